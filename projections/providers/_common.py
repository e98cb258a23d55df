"""What every remote provider shares: timeouts, the retry policy, the connection a provider's
chat and embedder classes hold, and naming transport failures."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import TypeVar

import httpx
import msgspec

from projections.providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)

T = TypeVar("T")


class Timeouts(msgspec.Struct, frozen=True, kw_only=True):
    """How long to wait on the network. `read` bounds each wait for the next bytes, not the
    whole answer, so a long streamed answer is fine but a server that stalls is given up on."""

    connect: float = 5.0
    """Seconds to open a connection."""
    read: float = 60.0
    """Seconds to wait for the next bytes of an answer (a streamed chunk, or the whole body)."""


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """When to try a request again: only failures that another try can cure (5xx, a dropped or
    refused connection, 429), only before any output reached the caller, and a bounded number of
    times. The SDKs' own retries are switched off so that every provider behaves the same."""

    retries: int = 2
    """Further tries after the first."""
    base_delay: float = 0.5
    """Seconds before the first retry; doubled for each next one (with jitter)."""
    max_delay: float = 20.0
    """The longest wait; a 429 asking for longer is handed to the caller at once."""

    def delay(self, attempt: int, error: ProviderError) -> float | None:
        """Seconds to wait before retry number `attempt` (1-based), or None: give up."""
        if attempt > self.retries:
            return None
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_delay else None
        if not isinstance(error, ProviderUnavailable | ProviderRateLimited):
            return None
        backoff = self.base_delay * 2 ** (attempt - 1)
        return min(self.max_delay, backoff * (0.5 + random.random() / 2))


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(retries=0)


async def with_retries(policy: RetryPolicy, op: Callable[[], Awaitable[T]]) -> T:
    """Run `op` (which raises only ProviderError for provider failures) under `policy`."""
    attempt = 0
    while True:
        try:
            return await op()
        except ProviderError as error:
            attempt += 1
            wait = policy.delay(attempt, error)
            if wait is None:
                raise
            await asyncio.sleep(wait)


class Connection:
    """One provider's SDK client and the address it talks to, which that provider's chat and
    embedder classes both hold. A provider module subclasses it: the constructor builds the client
    (raising ProviderConfigError when the settings cannot work) and `translate` names the SDK's
    exceptions."""

    where: str
    """The API's base URL, named in messages."""
    secret: str | None
    """The API key, scrubbed from every message."""

    def __init__(
        self, provider: str, *, api_key: str | None, base_url: str | None, timeouts: Timeouts
    ) -> None:
        raise NotImplementedError

    def translate(self, exc: Exception) -> ProviderError | None:
        """`exc` as a ProviderError, or None when it is no failure of the provider."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the connection pool."""
        raise NotImplementedError


class Caught:
    """`with caught:` keeps a provider call's failure as a ProviderError in `error` (an SDK
    exception translated, one `translate` does not know let through). The caller raises it after
    the block, so the SDK exception, which may carry request headers, is never chained to it."""

    def __init__(self, translate: Callable[[Exception], ProviderError | None]) -> None:
        self._translate = translate
        self.error: ProviderError | None = None

    def __enter__(self) -> Caught:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, ProviderError):
            self.error = exc
        elif isinstance(exc, Exception):
            self.error = self._translate(exc)
        return self.error is not None

    def unchained(self) -> ProviderError:
        """The error kept, cut loose from the exception it was made from."""
        assert self.error is not None
        self.error.__cause__ = self.error.__context__ = None
        return self.error


def _http_stacks() -> list[ModuleType]:
    """The HTTP libraries the SDKs use: httpx (ollama, google-genai) and, where the openai or
    anthropic extra brought it, httpx2."""
    stacks = [httpx]
    try:
        import httpx2
    except ImportError:
        pass
    else:
        stacks.append(httpx2)
    return stacks


# Failures of the connection itself, from whichever HTTP stack an SDK uses (OSError covers a
# socket reset underneath).
_STACKS = _http_stacks()
_TRANSPORT_ERRORS = (*(s.TransportError for s in _STACKS), OSError, TimeoutError)
_TIMEOUTS = (*(s.TimeoutException for s in _STACKS), TimeoutError)
_REFUSED = (*(s.ConnectError for s in _STACKS), ConnectionRefusedError)


def transport_failure(provider: str, exc: BaseException, where: str) -> ProviderUnavailable | None:
    """A ProviderUnavailable naming what happened on the wire, or None if `exc` is not a
    transport failure."""
    if not isinstance(exc, _TRANSPORT_ERRORS):
        return None
    if isinstance(exc, _TIMEOUTS):
        what = f"{where} did not answer in time"
    elif isinstance(exc, _REFUSED):
        what = f"could not connect to {where}"
    else:
        detail = str(exc) or type(exc).__name__
        what = f"the connection to {where} failed or dropped mid-answer ({detail})"
    return ProviderUnavailable(provider, what)


def wrapped_transport_failure(provider: str, exc: Exception, where: str) -> ProviderUnavailable:
    """For an SDK connection error (openai's, anthropic's) that wraps the transport's exception:
    the wrapped one tells a refused connection from one that dropped mid-answer."""
    cause = exc.__cause__ or exc.__context__
    named = transport_failure(provider, cause, where) if cause is not None else None
    return named or ProviderUnavailable(provider, f"could not connect to {where}")


def stream_cut_short(provider: str, where: str) -> ProviderUnavailable:
    """The error for a stream that ended without the provider's end-of-answer marker: the server
    closed the connection midway, so the text so far is not the whole answer."""
    return ProviderUnavailable(
        provider, f"the answer from {where} stopped before it was complete (connection closed)"
    )


def env_key(*names: str) -> str | None:
    """The first non-empty environment variable among `names` (each SDK's usual key variable)."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def status_error(
    provider: str,
    status: int,
    message: str,
    *,
    secret: str | None,
    retry_after: float | None = None,
) -> ProviderError:
    """The error class for an HTTP error status (the same table for every provider)."""
    if status in (401, 403):
        return ProviderAuthError(
            provider,
            f"the API key was rejected: {message}",
            status=status,
            secret=secret,
        )
    if status == 429:
        return ProviderRateLimited(
            provider,
            f"rate limited: {message}",
            status=status,
            secret=secret,
            retry_after=retry_after,
        )
    if status >= 500 or status in (408, 409):
        return ProviderUnavailable(
            provider, f"the server failed: {message}", status=status, secret=secret
        )
    return ProviderBadRequest(provider, message, status=status, secret=secret)


def parse_retry_after(headers: object) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (a number; HTTP dates are rare here)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if value >= 0:
            return value
    return None
