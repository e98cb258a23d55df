"""What is particular to OpenAI and the servers that speak its API (vLLM, NIM, TGI, Llama API)."""

from __future__ import annotations

from contextlib import aclosing

import pytest

from projections.providers import (
    NO_RETRY,
    ChatMessage,
    OpenAIChat,
    OpenAIEmbedder,
    ProviderBadRequest,
    ProviderConfigError,
)
from tests.fakes import FakeOpenAI
from tests.projections.providers.provider_cases import FAST_TIMEOUTS

HELLO = [ChatMessage(role="user", content="hello")]


async def test_a_compatible_server_gets_max_tokens_temperature_and_a_usage_request():
    with FakeOpenAI() as fake:
        async with aclosing(
            OpenAIChat("meta-llama/Llama-3.1-8B", api_key=fake.api_key, base_url=fake.base_url)
        ) as llm:
            await llm.complete(HELLO, max_tokens=77, temperature=0.4)
    [request] = fake.requests_to("/chat/completions")
    assert request.body["max_tokens"] == 77
    assert request.body["temperature"] == 0.4
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert llm.name == "openai:meta-llama/Llama-3.1-8B"


async def test_a_server_without_authentication_needs_no_key(monkeypatch):
    # A self-hosted vLLM often runs without keys: no key configured, none required.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAI(api_key=None, answer="ok") as fake:
        async with aclosing(
            OpenAIChat("local-model", base_url=fake.base_url, retry=NO_RETRY)
        ) as llm:
            text, _ = await llm.complete(HELLO)
    assert text == "ok"


def test_openais_own_endpoint_needs_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderConfigError, match="OPENAI_API_KEY"):
        OpenAIChat("gpt-4o-mini")
    with pytest.raises(ProviderConfigError):
        OpenAIEmbedder()


def test_the_key_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-123")
    llm = OpenAIChat("gpt-4o-mini")
    assert llm.name == "openai:gpt-4o-mini"
    assert "sk-from-the-environment-123" not in repr(llm)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", {"max_completion_tokens": 50, "temperature": 0.3}),
        # Reasoning models refuse a temperature other than their default.
        ("o3-mini", {"max_completion_tokens": 50}),
        ("gpt-5", {"max_completion_tokens": 50}),
    ],
)
def test_openais_own_endpoint_gets_the_current_parameter_names(model, expected):
    llm = OpenAIChat(model, api_key="sk-test-123456")
    assert llm._params(50, 0.3) == expected


async def test_embedding_batches_also_keep_the_token_budget():
    # Two texts that fit the 2,048-input limit together but not the 300k-token budget.
    texts = ["word " * 40_000, "other " * 40_000]
    with FakeOpenAI() as fake:
        async with aclosing(
            OpenAIEmbedder("small-test-embedder", api_key=fake.api_key, base_url=fake.base_url)
        ) as embedder:
            vectors = await embedder.embed(texts)
    assert [len(r.body["input"]) for r in fake.requests_to("/embeddings")] == [1, 1]
    assert len(vectors) == 2


async def test_embeddings_are_requested_as_floats():
    # Some compatible servers cannot send base64, the SDK's default.
    with FakeOpenAI() as fake:
        async with aclosing(
            OpenAIEmbedder(
                "text-embedding-3-small",
                api_key=fake.api_key,
                base_url=fake.base_url,
                timeouts=FAST_TIMEOUTS,
            )
        ) as embedder:
            await embedder.embed(["one"])
    [request] = fake.requests_to("/embeddings")
    assert request.body["encoding_format"] == "float"
    assert "dimensions" not in request.body


def test_a_batch_size_past_openais_limit_is_refused():
    with pytest.raises(ProviderBadRequest, match="between 1 and 2048"):
        OpenAIEmbedder(api_key="sk-test-123456", batch_size=2049)
