"""What is particular to Google Gemini (google-genai against the Gemini API)."""

from __future__ import annotations

from contextlib import aclosing

import pytest

from projections.providers import (
    NO_RETRY,
    ChatMessage,
    GeminiChat,
    GeminiEmbedder,
    ProviderBadRequest,
    ProviderConfigError,
)
from tests.fakes import FakeGemini
from tests.projections.providers.provider_cases import FAST_TIMEOUTS, raised

CONVERSATION = [
    ChatMessage(role="system", content="Cite passages."),
    ChatMessage(role="user", content="First question?"),
    ChatMessage(role="assistant", content="First answer."),
    ChatMessage(role="user", content="Second question?"),
]


async def test_system_text_and_turns_are_sent_the_way_gemini_wants_them():
    with FakeGemini() as fake:
        async with aclosing(
            GeminiChat("gemini-2.5-pro", api_key=fake.api_key, base_url=fake.base_url)
        ) as llm:
            await llm.complete(CONVERSATION, max_tokens=64, temperature=0.5)
    [request] = fake.requests_to(":streamGenerateContent")
    assert request.query["alt"] == "sse"
    assert request.headers["x-goog-api-key"] == fake.api_key
    body = request.body
    # The system prompt travels apart; an earlier answer is the "model" role.
    assert body["systemInstruction"]["parts"] == [{"text": "Cite passages."}]
    assert [(c["role"], c["parts"][0]["text"]) for c in body["contents"]] == [
        ("user", "First question?"),
        ("model", "First answer."),
        ("user", "Second question?"),
    ]
    assert body["generationConfig"]["maxOutputTokens"] == 64
    assert body["generationConfig"]["temperature"] == 0.5
    assert "thinkingConfig" not in body["generationConfig"]


async def test_flash_answers_without_spending_the_token_limit_on_thinking():
    with FakeGemini() as fake:
        async with aclosing(
            GeminiChat("gemini-2.5-flash", api_key=fake.api_key, base_url=fake.base_url)
        ) as llm:
            await llm.complete(CONVERSATION)
    [request] = fake.requests_to(":streamGenerateContent")
    thinking = request.body["generationConfig"]["thinkingConfig"]
    assert thinking.get("thinkingBudget", thinking.get("thinking_budget")) == 0


async def test_a_refused_prompt_is_a_bad_request():
    with FakeGemini() as fake:
        fake.block_reason = "SAFETY"
        llm = GeminiChat(
            "gemini-2.5-flash", api_key=fake.api_key, base_url=fake.base_url, retry=NO_RETRY
        )
        await raised(ProviderBadRequest, llm, llm.complete(CONVERSATION), match="SAFETY")


def test_gemini_needs_a_key(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ProviderConfigError, match="GEMINI_API_KEY"):
        GeminiChat("gemini-2.5-flash")


async def test_embeddings_go_through_batch_embed_contents_with_the_model_in_each_request():
    with FakeGemini() as fake:
        async with aclosing(
            GeminiEmbedder(
                "text-embedding-004",
                api_key=fake.api_key,
                base_url=fake.base_url,
                timeouts=FAST_TIMEOUTS,
            )
        ) as embedder:
            vectors = await embedder.embed(["alpha", "beta"])
    assert embedder.dim == 768 and [len(v) for v in vectors] == [768, 768]
    [request] = fake.requests_to(":batchEmbedContents")
    assert [r["model"] for r in request.body["requests"]] == ["models/text-embedding-004"] * 2


def test_a_batch_size_past_geminis_limit_is_refused():
    with pytest.raises(ProviderBadRequest, match="between 1 and 100"):
        GeminiEmbedder(api_key="AIza-test-123456", batch_size=101)
