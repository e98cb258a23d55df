"""PineconeIndex specifics: what goes over the wire, and how Pinecone's refusals come back."""

import pytest

from projections.vectorstores import (
    Filter,
    InvalidVectorInput,
    VectorIndexUnavailable,
    VectorRecord,
    chunk_metadata,
)
from projections.vectorstores.pinecone import DOCUMENT_KEY, PineconeIndex
from tests.projections.vectorstores.conftest import free_port, vec


def rec(record_id: str, *, rev: int = 1, document: str | None = None, tags=()) -> VectorRecord:
    return VectorRecord(
        id=record_id,
        vector=vec(1, len(record_id)),
        metadata=chunk_metadata(chapter="ch", source="src1", rev=rev, tags=tags),
        document=document,
    )


@pytest.fixture
async def index(fake_pinecone):
    backend = PineconeIndex(fake_pinecone.host, fake_pinecone.api_key)
    yield backend
    await backend.close()


async def test_records_travel_as_pinecone_vectors(index, fake_pinecone):
    # 250 records go out as three upsert requests of at most 100 vectors.
    await index.upsert(
        "ch1", [rec(f"src1:{i:03d}", rev=i, document=f"text {i}") for i in range(250)]
    )
    upserts = [r for r in fake_pinecone.requests if r.path == "/vectors/upsert"]
    assert [len(r.body["vectors"]) for r in upserts] == [100, 100, 50]
    assert all(r.body["namespace"] == "ch1" for r in upserts)
    assert all(r.headers["x-pinecone-api-version"] for r in upserts)
    # The document rides in metadata under a reserved key; the fake keeps numbers as floats,
    # as Pinecone does, and the index hands back the ints it was given.
    first = upserts[0].body["vectors"][0]
    assert first["metadata"][DOCUMENT_KEY] == "text 0"
    assert fake_pinecone._namespaces["ch1"].metadata["src1:007"]["rev"] == 7.0
    listed = {i: m async for i, m in index.ids("ch1")}
    assert listed["src1:007"]["rev"] == 7
    assert type(listed["src1:007"]["rev"]) is int
    assert DOCUMENT_KEY not in listed["src1:007"]


async def test_filters_go_out_in_pinecone_filter_language(index, fake_pinecone):
    await index.upsert("ch1", [rec("src1:a", tags=["x"])])
    await index.query("ch1", vec(1), 3, Filter(tags_any=["x", "y"], sources=["src1"]))
    [query] = [r for r in fake_pinecone.requests if r.path == "/query"]
    assert query.body["filter"] == {
        "$and": [
            {"$or": [{"tag:x": {"$eq": True}}, {"tag:y": {"$eq": True}}]},
            {"source": {"$eq": "src1"}},
        ]
    }
    assert query.body["includeMetadata"] is True
    await index.delete_source("ch1", "src1")
    [delete] = [r for r in fake_pinecone.requests if r.path == "/vectors/delete"]
    assert delete.body["filter"] == {"source": {"$eq": "src1"}}


async def test_a_missing_namespace_answers_404_and_reads_as_nothing_to_do(index, fake_pinecone):
    await index.delete("never", ["src1:a"])
    await index.delete_source("never", "src1")
    await index.drop("never")
    statuses = [r.status for r in fake_pinecone.requests]
    assert statuses == [404, 404, 404]  # what serverless Pinecone answers; the index shrugs


async def test_wrong_api_key_is_unavailable_with_pinecone_message(fake_pinecone):
    backend = PineconeIndex(fake_pinecone.host, "not-the-key")
    try:
        with pytest.raises(VectorIndexUnavailable, match="refused the API key: Invalid API Key"):
            await backend.query("ch1", vec(1), 3)
        with pytest.raises(VectorIndexUnavailable, match="refused the API key"):
            await backend.upsert("ch1", [rec("src1:a")])
    finally:
        await backend.close()
    assert [r.status for r in fake_pinecone.requests] == [401, 401]
    assert fake_pinecone._namespaces == {}


async def test_unreachable_host_is_unavailable():
    backend = PineconeIndex(f"http://127.0.0.1:{free_port()}", "key", timeout=2)
    try:
        with pytest.raises(VectorIndexUnavailable, match="could not be reached"):
            await backend.count("ch1")
    finally:
        await backend.close()


async def test_metadata_over_pinecone_limit_is_refused_with_its_message(index):
    with pytest.raises(InvalidVectorInput, match="exceeds the limit of 40960 bytes"):
        await index.upsert("ch1", [rec("src1:big", document="x" * 50_000)])
    assert await index.count("ch1") == 0


def test_construction_needs_a_key_and_a_host():
    with pytest.raises(InvalidVectorInput, match="API key"):
        PineconeIndex("http://127.0.0.1:1", "")
    with pytest.raises(InvalidVectorInput, match="cannot use Pinecone host"):
        PineconeIndex("nohost", "key")
