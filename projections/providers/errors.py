"""The errors every provider raises: one small family, whatever SDK sits underneath.

Callers (the vectors projection, the chat handler) catch these and never an SDK's own classes.
A message is meant for a person ("openai: the API key was rejected (HTTP 401)") and never holds
the API key: the key is scrubbed from the text at construction, and an SDK exception is never
chained as the cause (its repr can carry request headers or a body that echoes the key).
"""

from __future__ import annotations

# Server bodies can be whole HTML pages (a proxy's 502); a person needs the first line or two.
_MAX_MESSAGE = 400
# Scrub only strings long enough to be a credential: a one-letter "key" would mangle the text.
_MIN_SECRET = 4


def redact(text: str, *secrets: str | None) -> str:
    """`text` with each secret (an API key) replaced by `***`."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            text = text.replace(secret, "***")
    return text


class ProviderError(Exception):
    """A remote embedding or LLM provider failed; `message` says why in plain words."""

    provider: str
    """Which provider kind failed: "openai", "gemini", "ollama" or "anthropic"."""
    status: int | None
    """The HTTP status the provider answered, or None when no answer came (or none applies)."""
    message: str
    """What went wrong, for a person; never holds the API key."""

    def __init__(
        self, provider: str, message: str, *, status: int | None = None, secret: str | None = None
    ) -> None:
        message = " ".join(redact(message, secret).split())
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.message = message

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.provider}: {self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, status={self.status!r}, message={self.message!r})"


class ProviderConfigError(ProviderError):
    """The provider settings cannot work (unknown kind, no model, no API key where one is needed)."""


class ProviderBadRequest(ProviderError):
    """The provider refused this request as such (unknown model, input too long, empty text)."""


class ProviderAuthError(ProviderError):
    """The API key is wrong, missing or not allowed to do this (HTTP 401/403)."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, failed (5xx), timed out or dropped the answer midway."""


class ProviderRateLimited(ProviderError):
    """The provider asked us to slow down (HTTP 429)."""

    retry_after: float | None
    """Seconds the provider asked us to wait, when it said."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = 429,
        secret: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, message, status=status, secret=secret)
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = super().__str__()
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:g} s"
        return text

    def __repr__(self) -> str:
        return (
            f"ProviderRateLimited(provider={self.provider!r}, status={self.status!r}, "
            f"message={self.message!r}, retry_after={self.retry_after!r})"
        )
