"""What is particular to Anthropic's Messages API."""

from __future__ import annotations

from contextlib import aclosing

import httpx
import pytest

from projections.providers import (
    NO_RETRY,
    AnthropicChat,
    ChatMessage,
    ProviderConfigError,
    ProviderUnavailable,
)
from tests.fakes import FakeAnthropic, pieces

CONVERSATION = [
    ChatMessage(role="system", content="Cite passages."),
    ChatMessage(role="user", content="Question?"),
]
MODEL = "claude-sonnet-5-5"


async def test_the_system_prompt_travels_apart_and_no_sampling_parameters_are_sent():
    with FakeAnthropic() as fake:
        async with aclosing(
            AnthropicChat(MODEL, api_key=fake.api_key, base_url=fake.base_url)
        ) as llm:
            await llm.complete(CONVERSATION, max_tokens=99, temperature=0.9)
    [request] = fake.requests_to("/v1/messages")
    assert request.body["system"] == "Cite passages."
    assert request.body["messages"] == [{"role": "user", "content": "Question?"}]
    assert request.body["max_tokens"] == 99
    # API version 2026-10-21 refuses temperature, top_p and top_k outright.
    assert request.headers["anthropic-version"] >= "2026-10-21"
    assert "temperature" not in request.body


def test_the_fake_refuses_sampling_parameters_as_the_api_does():
    with FakeAnthropic() as fake:
        answer = httpx.post(
            fake.url + "/v1/messages",
            headers={"x-api-key": fake.api_key, "anthropic-version": "2026-10-21"},
            json={
                "model": MODEL,
                "max_tokens": 10,
                "temperature": 0.2,
                "messages": [{"role": "user", "content": "x"}],
            },
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "temperature: Extra inputs are not permitted"


async def test_an_overloaded_error_event_mid_answer_is_unavailable():
    with FakeAnthropic() as fake:
        fake.overloaded_after_chunks = 5  # three opening events, then two text deltas
        llm = AnthropicChat(MODEL, api_key=fake.api_key, base_url=fake.base_url, retry=NO_RETRY)
        deltas = []
        try:
            with pytest.raises(ProviderUnavailable) as caught:
                async for item in llm.stream(CONVERSATION):
                    deltas.append(item)
        finally:
            await llm.aclose()
    assert deltas == pieces(fake.answer)[:2]
    assert caught.value.status == 529
    assert "Overloaded" in caught.value.message


def test_anthropic_needs_a_key(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ProviderConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicChat(MODEL)
