"""Chat LLMs: the `LLM` protocol every answerer meets, its message and usage types, and the base
class the remote providers share (validation, retries before the first token, error naming)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import ClassVar, Literal, Protocol, runtime_checkable

import msgspec

from projections.providers._common import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    Caught,
    Connection,
    RetryPolicy,
    Timeouts,
)
from projections.providers.errors import ProviderBadRequest

Role = Literal["system", "user", "assistant"]
_ROLES = frozenset(("system", "user", "assistant"))


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One turn of a conversation sent to an LLM."""

    role: Role
    """"system" (instructions), "user" (the person) or "assistant" (an earlier answer)."""
    content: str
    """The text of the turn."""


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens an answer cost, as the provider counted them (0 when it did not say)."""

    prompt: int = 0
    """Tokens read: the messages sent, system prompt included."""
    completion: int = 0
    """Tokens written: the answer (and any hidden reasoning the provider bills)."""

    @property
    def total(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt + self.completion


@runtime_checkable
class LLM(Protocol):
    """Something that answers a conversation, token by token."""

    name: str
    """Provider and model, e.g. "openai:gpt-4o-mini" (recorded in `MessagePosted.model`)."""

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
    ) -> AsyncIterator[str | Usage]:
        """Text deltas as they come, then exactly one `Usage`."""
        ...

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
    ) -> tuple[str, Usage]:
        """The whole answer and its usage."""
        ...


class RemoteLLM:
    """The shared half of every remote chat provider.

    A subclass sets `provider` and `connection` (its SDK's client) and implements `_stream_once`
    (one request: text deltas, then a `Usage`; raising `stream_cut_short` when the provider's end
    marker never came). This class validates input, retries a failed request while no text has
    reached the caller (after that a retry would repeat text already shown), and makes sure no SDK
    exception — which may carry request headers — escapes or is chained.
    """

    provider: ClassVar[str]
    connection: ClassVar[type[Connection]]
    default_timeouts: ClassVar[Timeouts] = DEFAULT_TIMEOUTS

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        """`api_key` None falls back to the provider's usual environment variable; `base_url`
        None means the provider's public endpoint; `timeouts` None, the provider's default."""
        self._conn = self.connection(
            self.provider,
            api_key=api_key,
            base_url=base_url,
            timeouts=timeouts or self.default_timeouts,
        )
        if not model or not model.strip():
            raise ProviderBadRequest(self.provider, "no model name was given")
        self.model = model
        self.name = f"{self.provider}:{model}"
        self._where = self._conn.where
        self._retry = retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self._where!r})"

    def _stream_once(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._conn.aclose()

    def _check(self, messages: Sequence[ChatMessage], max_tokens: int, temperature: float) -> None:
        if not messages:
            raise ProviderBadRequest(self.provider, "no messages to answer")
        for i, message in enumerate(messages):
            if not isinstance(message, ChatMessage):
                raise ProviderBadRequest(
                    self.provider, f"message {i} is a {type(message).__name__}, not a ChatMessage"
                )
            if message.role not in _ROLES:
                raise ProviderBadRequest(
                    self.provider,
                    f"message {i} has role {message.role!r}; expected system, user or assistant",
                )
        if all(m.role == "system" for m in messages):
            raise ProviderBadRequest(self.provider, "there is no user message to answer")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ProviderBadRequest(
                self.provider, f"max_tokens must be a positive integer, not {max_tokens!r}"
            )
        if not 0.0 <= temperature <= 2.0:
            raise ProviderBadRequest(
                self.provider, f"temperature must be between 0 and 2, not {temperature!r}"
            )

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
    ) -> AsyncIterator[str | Usage]:
        """Text deltas as they come, then exactly one `Usage`. Raises ProviderError subclasses."""
        self._check(messages, max_tokens, temperature)
        attempt = 0
        while True:
            started = False
            usage = Usage()
            chunks = self._stream_once(messages, max_tokens=max_tokens, temperature=temperature)
            caught = Caught(self._conn.translate)
            with caught:
                try:
                    async for item in chunks:
                        if isinstance(item, Usage):
                            usage = item
                        elif item:
                            started = True
                            yield item
                finally:
                    await chunks.aclose()  # type: ignore[attr-defined]
            if caught.error is None:
                yield usage
                return
            attempt += 1
            wait = None if started else self._retry.delay(attempt, caught.error)
            if wait is None:
                raise caught.unchained()
            await asyncio.sleep(wait)

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
    ) -> tuple[str, Usage]:
        """The whole answer and its usage (collected from `stream`)."""
        parts: list[str] = []
        usage = Usage()
        async for item in self.stream(messages, max_tokens=max_tokens, temperature=temperature):
            if isinstance(item, Usage):
                usage = item
            else:
                parts.append(item)
        return "".join(parts), usage
