"""The contract every chat provider meets (OpenAI, Gemini, Ollama, Anthropic), each against a
fake server that speaks its wire format: streaming, usage, and each failure named the same way."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import pytest

from projections.providers import (
    LLM,
    ChatMessage,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderUnavailable,
    Usage,
)
from tests.fakes import assert_secret_hidden, count_tokens, pieces
from tests.projections.providers.provider_cases import (
    CHAT_PATHS,
    CHUNKS_BEFORE_TEXT,
    FAST_RETRY,
    Case,
    prompt_text,
    raised,
)

QUESTION = [
    ChatMessage(role="system", content="Answer from the numbered passages only."),
    ChatMessage(role="user", content="[1] Paris is the capital of France.\n\nWhat is the capital?"),
]


async def collect(
    llm: LLM, messages: list[ChatMessage] = QUESTION
) -> tuple[list[str], list[Usage]]:
    deltas: list[str] = []
    usages: list[Usage] = []
    async for item in llm.stream(messages, max_tokens=200, temperature=0.1):
        if isinstance(item, Usage):
            usages.append(item)
        else:
            deltas.append(item)
    return deltas, usages


async def test_stream_yields_text_deltas_then_one_usage(chat_case: Case):
    async with aclosing(chat_case.llm()) as llm:
        deltas, usages = await collect(llm)
    # The answer arrives in several pieces, in order, and usage comes once, at the end.
    assert deltas == pieces(chat_case.fake.answer)
    prompt_words = sum(count_tokens(m.content) for m in QUESTION)
    assert usages == [Usage(prompt=prompt_words, completion=len(deltas))]
    assert isinstance(llm, LLM)
    assert llm.name.startswith(f"{chat_case.kind}:")


async def test_complete_returns_the_whole_answer_and_usage(chat_case: Case):
    chat_case.fake.answer = "Die Hauptstadt ist Paris — voilà [1]."
    async with aclosing(chat_case.llm()) as llm:
        text, usage = await llm.complete(QUESTION)
    assert text == "Die Hauptstadt ist Paris — voilà [1]."
    assert usage.completion == len(pieces(text))
    assert usage.total == usage.prompt + usage.completion > 0


async def test_the_prompt_and_the_model_reach_the_server(chat_case: Case):
    async with aclosing(chat_case.llm()) as llm:
        await llm.complete(QUESTION)
    [request] = chat_case.fake.requests_to(CHAT_PATHS[chat_case.kind])
    sent = prompt_text(chat_case.kind, request)
    for message in QUESTION:
        assert message.content in sent
    assert llm.name.split(":", 1)[1] in request.path + str(request.body.get("model"))


async def test_a_wrong_key_is_an_auth_error_that_names_the_provider_and_hides_the_key(
    chat_case: Case,
):
    wrong = "wrong-key-for-this-test-987654321"
    llm = chat_case.llm(api_key=wrong)
    caught = await raised(ProviderAuthError, llm, llm.complete(QUESTION))
    error = caught.value
    assert error.provider == chat_case.kind
    assert error.status in (400, 401, 403)  # Gemini answers a bad key with 400
    assert str(error).startswith(f"{chat_case.kind}: the API key was rejected")
    assert_secret_hidden(error, wrong)
    assert wrong not in repr(llm)


async def test_the_right_key_never_shows_in_errors_or_reprs(chat_case: Case):
    key = chat_case.fake.api_key
    assert key is not None
    chat_case.fake.fail_next(500, times=1)
    llm = chat_case.llm()
    caught = await raised(ProviderUnavailable, llm, llm.complete(QUESTION))
    assert_secret_hidden(caught.value, key)
    assert key not in repr(llm)
    assert key not in repr(chat_case.config(model="m"))


async def test_a_server_killed_mid_stream_is_unavailable_after_the_text_so_far(chat_case: Case):
    # Two text chunks arrive, then the server closes the connection mid-body.
    chat_case.fake.die_after_chunks = CHUNKS_BEFORE_TEXT[chat_case.kind] + 2
    llm = chat_case.llm(retry=FAST_RETRY)
    deltas: list[str] = []
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            async for item in llm.stream(QUESTION):
                deltas.append(item)  # type: ignore[arg-type]
    finally:
        await llm.aclose()
    assert deltas == pieces(chat_case.fake.answer)[:2]
    assert caught.value.provider == chat_case.kind
    # Text had reached the caller, so the request is not retried (it would repeat that text).
    assert len(chat_case.fake.requests_to(CHAT_PATHS[chat_case.kind])) == 1


@pytest.mark.timeout(30)
async def test_a_server_that_stalls_mid_stream_times_out(chat_case: Case):
    chat_case.fake.stall_after_chunks = CHUNKS_BEFORE_TEXT[chat_case.kind] + 1
    llm = chat_case.llm()
    started = time.monotonic()
    caught = await raised(ProviderUnavailable, llm, llm.complete(QUESTION))
    # The read timeout is 0.5 s; the server would stay silent for 10 s.
    assert time.monotonic() - started < 5
    assert "did not answer in time" in caught.value.message


async def test_429_is_rate_limited_with_the_servers_retry_after(chat_case: Case):
    chat_case.fake.fail_next(429, retry_after=7)
    llm = chat_case.llm()
    caught = await raised(ProviderRateLimited, llm, llm.complete(QUESTION))
    assert caught.value.status == 429
    assert caught.value.provider == chat_case.kind
    if chat_case.kind == "ollama":
        # The ollama SDK's ResponseError keeps only the status and the body, not the headers.
        assert caught.value.retry_after is None
    else:
        assert caught.value.retry_after == 7


async def test_a_5xx_is_unavailable(chat_case: Case):
    chat_case.fake.fail_next(500)
    llm = chat_case.llm()
    caught = await raised(ProviderUnavailable, llm, llm.complete(QUESTION))
    assert caught.value.status == 500


async def test_a_failure_before_the_first_token_is_retried(chat_case: Case):
    chat_case.fake.fail_next(500)
    chat_case.fake.fail_next(429, retry_after=0)
    async with aclosing(chat_case.llm(retry=FAST_RETRY)) as llm:
        text, _ = await llm.complete(QUESTION)
    assert text == chat_case.fake.answer
    assert len(chat_case.fake.requests_to(CHAT_PATHS[chat_case.kind])) == 3


async def test_retries_are_bounded(chat_case: Case):
    chat_case.fake.fail_next(503, times=10)
    llm = chat_case.llm(retry=FAST_RETRY)
    await raised(ProviderUnavailable, llm, llm.complete(QUESTION))
    assert len(chat_case.fake.requests_to(CHAT_PATHS[chat_case.kind])) == 1 + FAST_RETRY.retries


async def test_an_unreachable_server_is_unavailable(chat_case: Case, free_port_url: str):
    base = free_port_url + ("/v1" if chat_case.kind == "openai" else "")
    llm = chat_case.llm(base_url=base)
    caught = await raised(ProviderUnavailable, llm, llm.complete(QUESTION))
    assert "could not connect" in caught.value.message


async def test_an_unknown_model_is_a_bad_request(chat_case: Case):
    chat_case.fake.models = {"some-other-model"}  # type: ignore[attr-defined]
    llm = chat_case.llm()
    caught = await raised(ProviderBadRequest, llm, llm.complete(QUESTION))
    assert caught.value.status == 404


async def test_a_consumer_that_stops_early_closes_the_stream(chat_case: Case):
    chat_case.fake.answer = " ".join(f"word{i}" for i in range(200))
    async with aclosing(chat_case.llm()) as llm:
        stream = llm.stream(QUESTION)
        first = await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        # The same client still answers: the abandoned response did not wedge its pool.
        text, _ = await asyncio.wait_for(llm.complete(QUESTION), timeout=10)
    assert first == "word0"
    assert text == chat_case.fake.answer


@pytest.mark.parametrize(
    ("messages", "options", "complaint"),
    [
        ([], {}, "no messages"),
        ([ChatMessage(role="system", content="x")], {}, "no user message"),
        ([ChatMessage(role="tool", content="x")], {}, "role 'tool'"),  # type: ignore[arg-type]
        (["hello"], {}, "not a ChatMessage"),
        (QUESTION, {"max_tokens": 0}, "max_tokens"),
        (QUESTION, {"temperature": 3.0}, "temperature"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    chat_case: Case, messages, options, complaint
):
    llm = chat_case.llm()
    caught = await raised(ProviderBadRequest, llm, llm.complete(messages, **options))
    assert complaint in caught.value.message
    assert chat_case.fake.requests == []
