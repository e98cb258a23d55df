"""Embedding and LLM providers: the local default embedder and clients of remote APIs.

The names below are the package's face. Each provider's SDK is imported only when that provider
is first used (together they take seconds to import, and each is an optional extra of the same
name: `pip install 'ragstack[openai]'`), so the provider classes are loaded on first access; a
missing SDK is a ProviderUnavailable that names the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from projections.providers._common import NO_RETRY, RetryPolicy, Timeouts
from projections.providers.config import (
    ProviderConfig,
    ProviderKind,
    make_embedder,
    make_llm,
    provider_module,
)
from projections.providers.embeddings import Embedder, RemoteEmbedder
from projections.providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConfigError,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from projections.providers.llm import LLM, ChatMessage, RemoteLLM, Usage
from projections.providers.ollama_server import ollama_reachable, ollama_url

if TYPE_CHECKING:
    from projections.providers.anthropic_provider import AnthropicChat
    from projections.providers.gemini_provider import GeminiChat, GeminiEmbedder
    from projections.providers.ollama_provider import OllamaChat, OllamaEmbedder
    from projections.providers.openai_provider import OpenAIChat, OpenAIEmbedder

_LAZY: dict[str, ProviderKind] = {
    "OpenAIChat": "openai",
    "OpenAIEmbedder": "openai",
    "GeminiChat": "gemini",
    "GeminiEmbedder": "gemini",
    "OllamaChat": "ollama",
    "OllamaEmbedder": "ollama",
    "AnthropicChat": "anthropic",
}


def __getattr__(name: str) -> Any:
    kind = _LAZY.get(name)
    if kind is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(provider_module(kind), name)


__all__ = [
    "LLM",
    "NO_RETRY",
    "AnthropicChat",
    "ChatMessage",
    "Embedder",
    "GeminiChat",
    "GeminiEmbedder",
    "OllamaChat",
    "OllamaEmbedder",
    "OpenAIChat",
    "OpenAIEmbedder",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderConfig",
    "ProviderConfigError",
    "ProviderError",
    "ProviderKind",
    "ProviderRateLimited",
    "ProviderUnavailable",
    "RemoteEmbedder",
    "RemoteLLM",
    "RetryPolicy",
    "Timeouts",
    "Usage",
    "make_embedder",
    "make_llm",
    "ollama_reachable",
    "ollama_url",
    "provider_module",
]
