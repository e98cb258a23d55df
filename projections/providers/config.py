"""Provider settings and the factories that turn them into an embedder or an LLM."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Literal

import msgspec

from projections.providers._common import RetryPolicy, Timeouts
from projections.providers.embeddings import Embedder, RemoteEmbedder
from projections.providers.errors import ProviderConfigError, ProviderUnavailable
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


# Each kind's module, the top-level package of the SDK it needs (installed by the extra of the
# kind's name), and its chat and embedder classes (Anthropic offers no embeddings).
_PROVIDERS: dict[ProviderKind, tuple[str, str, str, str | None]] = {
    "openai": ("openai_provider", "openai", "OpenAIChat", "OpenAIEmbedder"),
    "gemini": ("gemini_provider", "google", "GeminiChat", "GeminiEmbedder"),
    "ollama": ("ollama_provider", "ollama", "OllamaChat", "OllamaEmbedder"),
    "anthropic": ("anthropic_provider", "anthropic", "AnthropicChat", None),
}


def provider_module(kind: ProviderKind) -> ModuleType:
    """The module of provider `kind`, imported on first use: together the SDKs take seconds to
    import, and each is an optional extra. Raises ProviderUnavailable naming the extra to install
    when the SDK is missing."""
    module, sdk, _, _ = _PROVIDERS[kind]
    try:
        return importlib.import_module(f"projections.providers.{module}")
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != sdk:
            raise
    # Raised outside the except block: the ImportError adds nothing to the message.
    raise ProviderUnavailable(
        kind, f"the {kind} provider needs the '{kind}' extra: pip install 'ragstack[{kind}]'"
    )


def _options(
    cfg: ProviderConfig, timeouts: Timeouts | None, retry: RetryPolicy | None
) -> dict[str, Any]:
    """The keyword arguments every provider class takes; unset ones keep the class's default."""
    options: dict[str, Any] = {"api_key": cfg.api_key, "base_url": cfg.base_url}
    if timeouts is not None:
        options["timeouts"] = timeouts
    if retry is not None:
        options["retry"] = retry
    return options


def make_llm(
    cfg: ProviderConfig, *, timeouts: Timeouts | None = None, retry: RetryPolicy | None = None
) -> RemoteLLM:
    """The chat LLM `cfg` describes. Raises ProviderConfigError when it cannot work (no key for a
    public endpoint, an unknown kind), ProviderUnavailable when its SDK is not installed."""
    _check(cfg)
    chat: type[RemoteLLM] = getattr(provider_module(cfg.kind), _PROVIDERS[cfg.kind][2])
    return chat(cfg.model, **_options(cfg, timeouts, retry))


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
    name = _PROVIDERS[cfg.kind][3]
    if name is None:
        raise ProviderConfigError(
            cfg.kind,
            "Anthropic offers no embedding API; embed with the local model, openai, gemini or ollama",
        )
    embedder: type[RemoteEmbedder] = getattr(provider_module(cfg.kind), name)
    return embedder(cfg.model, dimensions=dimensions, **_options(cfg, timeouts, retry))
