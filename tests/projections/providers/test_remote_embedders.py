"""The contract every remote embedder meets (OpenAI, Gemini, Ollama), each against a fake server
that speaks its wire format: vectors in order and of one size, batches within each API's
limits, and failures named the same way as the chat providers'."""

from __future__ import annotations

from contextlib import aclosing

import pytest

from projections.providers import (
    Embedder,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderUnavailable,
)
from tests.fakes import assert_secret_hidden, fake_vector
from tests.projections.providers.provider_cases import (
    EMBED_PATHS,
    FAST_RETRY,
    Case,
    embedded_texts,
    raised,
)

# Each provider's real default model, with the vector size the real API gives it.
REAL_MODELS = {
    "openai": ("text-embedding-3-small", 1536),
    "gemini": ("gemini-embedding-001", 3072),
    "ollama": ("nomic-embed-text", 768),
}
# A model the embedders do not know, so its size is learnt from the first answer (the fakes
# answer it in 8 dimensions, which keeps volume tests small).
SMALL_MODEL = "small-test-embedder"
# The most texts one request may carry: OpenAI's and Gemini's API limits, Ollama's default batch.
BATCH_LIMITS = {"openai": 2048, "gemini": 100, "ollama": 64}

TEXTS = [
    "Paris is the capital of France.",
    "Der Rhein fließt durch Basel.",
    "日本の首都は東京です。",
]


def requests_of(case: Case) -> list:
    return case.fake.requests_to(EMBED_PATHS[case.kind])


async def test_vectors_come_back_in_order_with_the_models_real_size(embed_case: Case):
    model, dim = REAL_MODELS[embed_case.kind]
    embedder = embed_case.embedder(model)
    assert isinstance(embedder, Embedder)
    assert embedder.model == f"{embed_case.kind}:{model}"
    assert embedder.dim == dim  # known before any request
    try:
        vectors = await embedder.embed(TEXTS)
    finally:
        await embedder.aclose()
    assert vectors == [fake_vector(text, dim) for text in TEXTS]


async def test_an_unknown_models_size_is_learnt_from_its_answer(embed_case: Case):
    embedder = embed_case.embedder(SMALL_MODEL)
    assert embedder.dim is None
    try:
        vectors = await embedder.embed(TEXTS[:1])
    finally:
        await embedder.aclose()
    assert embedder.dim == len(vectors[0]) == embed_case.fake.dim


async def test_large_inputs_are_split_into_batches_within_the_apis_limit(embed_case: Case):
    limit = BATCH_LIMITS[embed_case.kind]
    texts = [f"chunk number {i}" for i in range(2 * limit + 1)]
    async with aclosing(embed_case.embedder(SMALL_MODEL)) as embedder:
        vectors = await embedder.embed(texts)
    # Every text embedded once, in order, in the fewest requests the limit allows.
    sizes = sorted(len(embedded_texts(embed_case.kind, r)) for r in requests_of(embed_case))
    assert sizes == [1, limit, limit]
    sent = sorted(t for r in requests_of(embed_case) for t in embedded_texts(embed_case.kind, r))
    assert sent == sorted(texts)
    assert vectors == [fake_vector(text, embed_case.fake.dim) for text in texts]


async def test_shorter_vectors_are_asked_for_and_keyed_apart(embed_case: Case):
    model, _ = REAL_MODELS[embed_case.kind]
    async with aclosing(embed_case.embedder(model, dimensions=16)) as embedder:
        vectors = await embedder.embed(TEXTS)
    # A cache must not mix 16-dimension vectors with full-size ones of the same model.
    assert embedder.model == f"{embed_case.kind}:{model}@16"
    assert embedder.dim == 16
    assert [len(v) for v in vectors] == [16, 16, 16]


async def test_nothing_to_embed_sends_nothing(embed_case: Case):
    async with aclosing(embed_case.embedder(SMALL_MODEL)) as embedder:
        assert await embedder.embed([]) == []
    assert embed_case.fake.requests == []


@pytest.mark.parametrize(
    ("texts", "complaint"),
    [
        (["fine", "   "], "text 1 is empty"),
        (["fine", b"bytes"], "text 1 is a bytes"),
        ("a bare string", "list of texts"),
    ],
)
async def test_bad_input_is_refused_before_any_request(embed_case: Case, texts, complaint):
    embedder = embed_case.embedder(SMALL_MODEL)
    await raised(ProviderBadRequest, embedder, embedder.embed(texts), match=complaint)
    assert embed_case.fake.requests == []


async def test_a_wrong_key_is_an_auth_error_that_hides_the_key(embed_case: Case):
    wrong = "wrong-embedding-key-555666777"
    embedder = embed_case.embedder(SMALL_MODEL, api_key=wrong)
    caught = await raised(ProviderAuthError, embedder, embedder.embed(TEXTS))
    assert caught.value.provider == embed_case.kind
    assert_secret_hidden(caught.value, wrong)
    assert wrong not in repr(embedder)


async def test_429_is_rate_limited(embed_case: Case):
    embed_case.fake.fail_next(429, retry_after=3)
    embedder = embed_case.embedder(SMALL_MODEL)
    caught = await raised(ProviderRateLimited, embedder, embedder.embed(TEXTS))
    assert caught.value.status == 429


async def test_transient_failures_are_retried_and_nothing_is_embedded_twice(embed_case: Case):
    embed_case.fake.fail_next(500)
    embed_case.fake.fail_next(503)
    async with aclosing(embed_case.embedder(SMALL_MODEL, retry=FAST_RETRY)) as embedder:
        vectors = await embedder.embed(TEXTS)
    assert len(vectors) == len(TEXTS)
    assert len(requests_of(embed_case)) == 3  # two failures, one success


async def test_a_failed_batch_fails_the_whole_call(embed_case: Case):
    limit = BATCH_LIMITS[embed_case.kind]
    embed_case.fake.fail_next(500, times=50)
    embedder = embed_case.embedder(SMALL_MODEL)
    caught = await raised(
        ProviderUnavailable, embedder, embedder.embed([f"t{i}" for i in range(limit + 1)])
    )
    assert caught.value.status == 500


async def test_an_unreachable_server_is_unavailable(embed_case: Case, free_port_url: str):
    base = free_port_url + ("/v1" if embed_case.kind == "openai" else "")
    embedder = embed_case.embedder(SMALL_MODEL, base_url=base)
    await raised(ProviderUnavailable, embedder, embedder.embed(TEXTS), match="could not connect")


async def test_an_unknown_model_is_a_bad_request(embed_case: Case):
    embed_case.fake.models = {"another-model"}  # type: ignore[attr-defined]
    embedder = embed_case.embedder(SMALL_MODEL)
    caught = await raised(ProviderBadRequest, embedder, embedder.embed(TEXTS))
    assert caught.value.status == 404
