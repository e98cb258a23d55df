"""The rerank client against a local server speaking Cohere's and Jina's rerank wire shape:
the order it answers, the path of each kind, and each failure as the providers' error family,
the key never in a message."""

import pytest

from projections.providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConfigError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from projections.providers.rerank import Reranker
from tests.fakes.rerank import FakeRerank

DOCS = [
    "Bees dance to show where flowers are.",
    "The snowy owl nests on the tundra.",
    "Owls hunt lemmings on the tundra at night.",
]


@pytest.mark.parametrize(("kind", "path"), [("cohere", "/v2/rerank"), ("jina", "/v1/rerank")])
async def test_documents_come_back_in_the_services_order(kind, path):
    with FakeRerank() as fake:
        reranker = Reranker(kind=kind, base_url=fake.base_url, model="m", api_key=fake.api_key)
        try:
            order = await reranker.rerank("where do owls hunt on the tundra", DOCS, top_n=2)
        finally:
            await reranker.aclose()
        assert [i for i, _ in order] == [2, 1]
        assert order[0][1] > order[1][1]
        (sent,) = fake.requests
        assert sent.path == path and sent.body["top_n"] == 2 and sent.body["documents"] == DOCS
        assert reranker.name == f"{kind}:m"


async def test_failures_are_the_providers_errors_without_the_key():
    with FakeRerank() as fake:
        wrong = Reranker(
            kind="cohere", base_url=fake.base_url, model="m", api_key="sk-wrong-key-99"
        )
        with pytest.raises(ProviderAuthError) as denied:
            await wrong.rerank("q", DOCS, top_n=1)
        assert "sk-wrong-key-99" not in str(denied.value) and denied.value.status == 401
        await wrong.aclose()
        reranker = Reranker(kind="jina", base_url=fake.base_url, model="m", api_key=fake.api_key)
        try:
            fake.fail_next(429, retry_after=7)
            with pytest.raises(ProviderRateLimited) as slow:
                await reranker.rerank("q", DOCS, top_n=1)
            assert slow.value.retry_after == 7
            fake.fail_next(400)
            with pytest.raises(ProviderBadRequest):
                await reranker.rerank("q", DOCS, top_n=1)
            fake.fail_next(503)
            with pytest.raises(ProviderUnavailable):
                await reranker.rerank("q", DOCS, top_n=1)
            fake.bad_index = True
            with pytest.raises(ProviderUnavailable, match="not sent"):
                await reranker.rerank("q", DOCS, top_n=3)
            assert await reranker.rerank("q", [], top_n=3) == []
        finally:
            await reranker.aclose()
    gone = Reranker(kind="cohere", base_url="http://127.0.0.1:9", model="m", api_key=None)
    with pytest.raises(ProviderUnavailable, match="could not be reached"):
        await gone.rerank("q", DOCS, top_n=1)
    await gone.aclose()
    with pytest.raises(ProviderConfigError, match="unknown rerank kind"):
        Reranker(kind="voyage", base_url="http://x", model="m", api_key=None)
