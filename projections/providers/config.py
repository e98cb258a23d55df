"""Provider settings and the factories that turn them into an embedder or an LLM."""

from __future__ import annotations

from typing import Literal

import msgspec

from projections.providers._common import RetryPolicy, Timeouts
from projections.providers.embeddings import Embedder, RemoteEmbedder
from projections.providers.errors import ProviderConfigError
from projections.providers.llm import RemoteLLM

ProviderKind = Literal["openai", "gemini", "ollama", "anthropic"]
KINDS: tuple[ProviderKind, ...] = ("openai", "gemini", "ollama", "anthropic")


class ProviderConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Which remote provider and model to use (a book's LLM settings, or the server's embedder).

    Its repr hides the API key, so a config can be logged."""

    kind: ProviderKind
    """The API spoken: "openai" (also any OpenAI-compatible server), "gemini", "ollama" or
    "anthropic"."""
    model: str
    """The provider's model name, e.g. "gpt-4o-mini", "text-embedding-3-small", "llama3.2"."""
    base_url: str | None = None
    """Where the API is; None for the provider's public endpoint (Ollama: $OLLAMA_HOST or
    http://127.0.0.1:11434). For an OpenAI-compatible server, the URL that ends in /v1."""
    api_key: str | None = None
    """The key; None falls back to the provider's usual environment variable
    (OPENAI_API_KEY, GEMINI_API_KEY or GOOGLE_API_KEY, ANTHROPIC_API_KEY, OLLAMA_API_KEY)."""

    def __repr__(self) -> str:
        key = "None" if self.api_key is None else "'***'"
        return (
            f"ProviderConfig(kind={self.kind!r}, model={self.model!r}, "
            f"base_url={self.base_url!r}, api_key={key})"
        )

    __str__ = __repr__


def _check(cfg: ProviderConfig) -> None:
    if cfg.kind not in KINDS:
        raise ProviderConfigError(
            str(cfg.kind), f"unknown provider kind {cfg.kind!r}; expected one of {', '.join(KINDS)}"
        )
    if not cfg.model or not cfg.model.strip():
        raise ProviderConfigError(cfg.kind, "no model name is configured")


def make_llm(
    cfg: ProviderConfig, *, timeouts: Timeouts | None = None, retry: RetryPolicy | None = None
) -> RemoteLLM:
    """The chat LLM `cfg` describes. Raises ProviderConfigError when it cannot work (no key for a
    public endpoint, an unknown kind)."""
    _check(cfg)
    extra: dict[str, object] = {}
    if timeouts is not None:
        extra["timeouts"] = timeouts
    if retry is not None:
        extra["retry"] = retry
    args = {"api_key": cfg.api_key, "base_url": cfg.base_url, **extra}
    # Each SDK is imported only when its provider is chosen: together they take seconds.
    if cfg.kind == "openai":
        from projections.providers.openai_provider import OpenAIChat

        return OpenAIChat(cfg.model, **args)  # type: ignore[arg-type]
    if cfg.kind == "gemini":
        from projections.providers.gemini_provider import GeminiChat

        return GeminiChat(cfg.model, **args)  # type: ignore[arg-type]
    if cfg.kind == "ollama":
        from projections.providers.ollama_provider import OllamaChat

        return OllamaChat(cfg.model, **args)  # type: ignore[arg-type]
    from projections.providers.anthropic_provider import AnthropicChat

    return AnthropicChat(cfg.model, **args)  # type: ignore[arg-type]


def make_embedder(
    cfg: ProviderConfig,
    *,
    dimensions: int | None = None,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
) -> Embedder:
    """The remote embedder `cfg` describes (`dimensions` asks for shorter vectors where the
    model can give them). Raises ProviderConfigError for "anthropic", which has no embeddings."""
    _check(cfg)
    extra: dict[str, object] = {}
    if timeouts is not None:
        extra["timeouts"] = timeouts
    if retry is not None:
        extra["retry"] = retry
    args = {"api_key": cfg.api_key, "base_url": cfg.base_url, "dimensions": dimensions, **extra}
    embedder: RemoteEmbedder
    if cfg.kind == "openai":
        from projections.providers.openai_provider import OpenAIEmbedder

        embedder = OpenAIEmbedder(cfg.model, **args)  # type: ignore[arg-type]
    elif cfg.kind == "gemini":
        from projections.providers.gemini_provider import GeminiEmbedder

        embedder = GeminiEmbedder(cfg.model, **args)  # type: ignore[arg-type]
    elif cfg.kind == "ollama":
        from projections.providers.ollama_provider import OllamaEmbedder

        embedder = OllamaEmbedder(cfg.model, **args)  # type: ignore[arg-type]
    else:
        raise ProviderConfigError(
            cfg.kind,
            "Anthropic offers no embedding API; embed with the local model, openai, gemini or ollama",
        )
    return embedder
