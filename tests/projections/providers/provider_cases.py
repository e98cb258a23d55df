"""What the provider tests share: each remote provider kind paired with its fake server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from projections.providers import (
    NO_RETRY,
    ProviderConfig,
    RemoteEmbedder,
    RemoteLLM,
    RetryPolicy,
    Timeouts,
    make_embedder,
    make_llm,
)
from tests.fakes import FakeAnthropic, FakeGemini, FakeOllama, FakeOpenAI, FakeServer, Recorded

# Short bounds, so that a test about a dead or silent server finishes in about a second.
FAST_TIMEOUTS = Timeouts(connect=1.0, read=0.5)
FAST_RETRY = RetryPolicy(retries=2, base_delay=0.01, max_delay=0.05)

CHAT_KINDS = ("openai", "gemini", "ollama", "anthropic")
EMBED_KINDS = ("openai", "gemini", "ollama")

_FAKES: dict[str, Callable[..., FakeServer]] = {
    "openai": FakeOpenAI,
    "gemini": FakeGemini,
    "ollama": FakeOllama,
    "anthropic": FakeAnthropic,
}
CHAT_MODELS = {
    "openai": "gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
    "ollama": "llama3.2",
    "anthropic": "claude-sonnet-5-5",
}
# The path of each provider's chat request, and how many stream chunks come before the first
# text (OpenAI's role chunk; Anthropic's message_start, content_block_start and ping).
CHAT_PATHS = {
    "openai": "/chat/completions",
    "gemini": ":streamGenerateContent",
    "ollama": "/api/chat",
    "anthropic": "/v1/messages",
}
CHUNKS_BEFORE_TEXT = {"openai": 1, "gemini": 0, "ollama": 0, "anthropic": 3}
EMBED_PATHS = {"openai": "/v1/embeddings", "gemini": ":batchEmbedContents", "ollama": "/api/embed"}


def prompt_text(kind: str, request: Recorded) -> str:
    """Every piece of prompt text a chat request carried, joined by newlines."""
    body = request.body
    if kind == "gemini":
        texts = [p["text"] for c in body["contents"] for p in c["parts"]]
        if body.get("systemInstruction"):
            texts += [p["text"] for p in body["systemInstruction"]["parts"]]
        return "\n".join(texts)
    texts = [m["content"] for m in body["messages"]]
    if kind == "anthropic" and body.get("system"):
        texts.append(body["system"])
    return "\n".join(texts)


def embedded_texts(kind: str, request: Recorded) -> list[str]:
    """The texts one embeddings request asked for, in order."""
    if kind == "gemini":
        return [r["content"]["parts"][0]["text"] for r in request.body["requests"]]
    return list(request.body["input"])


@dataclass
class Case:
    """One provider kind and its running fake."""

    kind: str
    fake: FakeServer

    def config(
        self, *, model: str, api_key: Any = "right", base_url: Any = "fake"
    ) -> ProviderConfig:
        return ProviderConfig(
            kind=self.kind,  # type: ignore[arg-type]
            model=model,
            base_url=self.fake.base_url if base_url == "fake" else base_url,
            api_key=self.fake.api_key if api_key == "right" else api_key,
        )

    def llm(
        self,
        *,
        model: str | None = None,
        api_key: Any = "right",
        base_url: Any = "fake",
        retry: RetryPolicy = NO_RETRY,
        timeouts: Timeouts = FAST_TIMEOUTS,
    ) -> RemoteLLM:
        cfg = self.config(model=model or CHAT_MODELS[self.kind], api_key=api_key, base_url=base_url)
        return make_llm(cfg, timeouts=timeouts, retry=retry)

    def embedder(
        self,
        model: str,
        *,
        api_key: Any = "right",
        base_url: Any = "fake",
        retry: RetryPolicy = NO_RETRY,
        timeouts: Timeouts = FAST_TIMEOUTS,
        dimensions: int | None = None,
    ) -> RemoteEmbedder:
        cfg = self.config(model=model, api_key=api_key, base_url=base_url)
        embedder = make_embedder(cfg, timeouts=timeouts, retry=retry, dimensions=dimensions)
        assert isinstance(embedder, RemoteEmbedder)
        return embedder


E = TypeVar("E", bound=BaseException)


async def raised(
    error: type[E] | tuple[type[E], ...],
    client: RemoteLLM | RemoteEmbedder,
    call: Awaitable[Any],
    *,
    match: str | None = None,
) -> pytest.ExceptionInfo[E]:
    """What `call` (a request through `client`) raised, which must be an `error` (whose text
    `match` searches, when given); the client is closed either way."""
    try:
        with pytest.raises(error, match=match) as caught:
            await call
    finally:
        await client.aclose()
    return caught


def start_fake(kind: str) -> FakeServer:
    # Every fake checks a key, Ollama's too (as Ollama's cloud or a proxy would).
    return _FAKES[kind](api_key=f"{kind}-secret-key-0123456789").start()
