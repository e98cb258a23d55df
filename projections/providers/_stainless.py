"""The connection of the providers whose SDKs Stainless generates (`openai`, `anthropic`): the same
client arguments and the same exception tree, so one class builds the client and names its
failures; a provider says only where it lives, where its key is, and how it reads an error body.

The SDK module is a class attribute, never imported here: each is an optional extra.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from projections.providers._common import (
    Connection,
    Timeouts,
    env_key,
    parse_retry_after,
    status_error,
    transport_failure,
    wrapped_transport_failure,
)
from projections.providers.errors import ProviderConfigError, ProviderError, ProviderUnavailable


class StainlessConnection(Connection):
    """A Stainless SDK's async client, with `translate` for its exceptions."""

    sdk: ModuleType
    """The SDK module: its `Timeout` and exception classes are used."""
    client_class: type
    """The SDK's async client class, e.g. `openai.AsyncOpenAI`."""
    default_url: str
    """The provider's own API, used when no base URL is set."""
    label: str
    """The provider's name for people, e.g. "OpenAI"."""
    key_variable: str
    """The environment variable the SDK's users keep the key in."""
    env_key_with_base_url: bool = True
    """Whether the variable's key is sent to a base URL of the settings too (OpenAI's is not:
    that URL is usually someone else's server)."""
    client: Any

    def __init__(
        self, provider: str, *, api_key: str | None, base_url: str | None, timeouts: Timeouts
    ) -> None:
        self.provider = provider
        self.where = (base_url or self.default_url).rstrip("/")
        from_env = base_url is None or self.env_key_with_base_url
        self.secret = api_key or (env_key(self.key_variable) if from_env else None)
        if self.secret is None and base_url is None:
            raise ProviderConfigError(
                provider,
                f"no API key is configured for {self.label}: set one in the book's LLM settings "
                f"or in the {self.key_variable} environment variable",
            )
        self.client = self.client_class(
            # A self-hosted server without authentication ignores the header; the SDK insists.
            api_key=self.secret or "no-key",
            base_url=self.where,
            timeout=self.sdk.Timeout(timeouts.read, connect=timeouts.connect),
            max_retries=0,  # RetryPolicy decides, the same way for every provider
        )

    async def aclose(self) -> None:
        await self.client.close()

    def status_of(self, exc: Any) -> tuple[int, str]:
        """The HTTP status and the message for people of an `APIStatusError`."""
        return exc.status_code, exc.message

    def message_of(self, exc: Any) -> str:
        """The message for people of any other `APIError` (an error event inside a stream, or
        an answer the SDK could not read)."""
        return exc.message

    def translate(self, exc: Exception) -> ProviderError | None:
        provider, where, secret, sdk = self.provider, self.where, self.secret, self.sdk
        if isinstance(exc, sdk.APITimeoutError):
            return ProviderUnavailable(provider, f"{where} did not answer in time")
        if isinstance(exc, sdk.APIConnectionError):
            return wrapped_transport_failure(provider, exc, where)
        if isinstance(exc, sdk.APIStatusError):
            status, message = self.status_of(exc)
            retry_after = parse_retry_after(exc.response.headers)
            return status_error(provider, status, message, secret=secret, retry_after=retry_after)
        if isinstance(exc, sdk.APIError):
            return ProviderError(provider, self.message_of(exc), secret=secret)
        return transport_failure(provider, exc, where)
