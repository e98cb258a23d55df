"""Embedding and LLM providers: the local default embedder and clients of remote APIs.

The names below are the package's face. Each provider's SDK is imported only when that provider
is first used (together they take seconds to import), so the provider classes and
`ollama_reachable` are loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from projections.providers._common import NO_RETRY, RetryPolicy, Timeouts
from projections.providers.config import ProviderConfig, ProviderKind, make_embedder, make_llm
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

if TYPE_CHECKING:
    from projections.providers.anthropic_provider import AnthropicChat
    from projections.providers.gemini_provider import GeminiChat, GeminiEmbedder
    from projections.providers.ollama_provider import (
        OllamaChat,
        OllamaEmbedder,
        ollama_reachable,
        ollama_url,
    )
    from projections.providers.openai_provider import OpenAIChat, OpenAIEmbedder

_LAZY = {
    "OpenAIChat": "openai_provider",
    "OpenAIEmbedder": "openai_provider",
    "GeminiChat": "gemini_provider",
    "GeminiEmbedder": "gemini_provider",
    "OllamaChat": "ollama_provider",
    "OllamaEmbedder": "ollama_provider",
    "ollama_reachable": "ollama_provider",
    "ollama_url": "ollama_provider",
    "AnthropicChat": "anthropic_provider",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


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
]
