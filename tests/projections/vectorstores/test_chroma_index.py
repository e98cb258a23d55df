"""ChromaIndex specifics: persistence, the collection's configuration, a server that goes away."""

import asyncio
import random
import subprocess
import sys
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings

from projections.vectorstores import (
    InvalidVectorInput,
    VectorIndexError,
    VectorIndexUnavailable,
    VectorRecord,
    chunk_metadata,
)
from projections.vectorstores.chroma import COLLECTION_PREFIX, ChromaIndex
from tests.projections.vectorstores.conftest import DIM, free_port, vec


def rec(record_id: str, x: float = 1.0) -> VectorRecord:
    return VectorRecord(
        id=record_id,
        vector=vec(x, 1),
        metadata=chunk_metadata(chapter="ch", source="src1", rev=1, tags=["t"]),
        document=f"doc {record_id}",
    )


def raw_client(path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


async def test_embedded_index_survives_reopening(tmp_path):
    index = ChromaIndex.embedded(tmp_path / "db")
    await index.upsert("ch1", [rec("src1:a"), rec("src1:b", -1)])
    await index.close()
    # A new process would open the same directory: everything is still there.
    reopened = ChromaIndex.embedded(tmp_path / "db")
    try:
        assert await reopened.count("ch1") == 2
        [hit, _] = await reopened.query("ch1", vec(1, 1), 2)
        assert (hit.id, hit.document) == ("src1:a", "doc src1:a")
    finally:
        await reopened.close()


async def test_collections_are_cosine_without_an_embedding_function(tmp_path):
    index = ChromaIndex.embedded(tmp_path / "db")
    await index.upsert("ch1", [rec("src1:a")])
    await index.close()
    client = raw_client(tmp_path / "db")
    try:
        collection = client.get_collection(COLLECTION_PREFIX + "ch1", embedding_function=None)
        config = collection.configuration_json
        assert config["hnsw"]["space"] == "cosine"
        # No embedding function is persisted: Chroma's default one would download a model.
        assert (config.get("embedding_function") or {}).get("name") != "default"
    finally:
        client.close()


async def test_a_collection_with_another_metric_is_refused(tmp_path):
    client = raw_client(tmp_path / "db")
    client.create_collection(
        COLLECTION_PREFIX + "ch1", configuration={"hnsw": {"space": "l2"}}, embedding_function=None
    )
    client.close()
    index = ChromaIndex.embedded(tmp_path / "db")
    try:
        with pytest.raises(VectorIndexError, match="'l2' space, not cosine"):
            await index.upsert("ch1", [rec("src1:a")])
        await index.drop("ch1")  # the way out the message names
        await index.upsert("ch1", [rec("src1:a")])
        assert await index.count("ch1") == 1
    finally:
        await index.close()


async def test_a_collection_dropped_elsewhere_is_recreated(chroma_server, ns):
    namespace = ns("gone")
    index = ChromaIndex.http(chroma_server)
    try:
        await index.upsert(namespace, [rec("src1:a")])
        # Another client (another worker, an operator) deletes the collection behind our back.
        host, port = chroma_server.removeprefix("http://").split(":")
        other = chromadb.HttpClient(
            host=host, port=int(port), settings=Settings(anonymized_telemetry=False)
        )
        other.delete_collection(COLLECTION_PREFIX + namespace)
        assert await index.count(namespace) == 0
        assert await index.query(namespace, vec(1, 1), 3) == []
        await index.upsert(namespace, [rec("src1:b")])
        assert [i async for i, _ in index.ids(namespace)] == ["src1:b"]
    finally:
        await index.close()


async def test_an_unreachable_server_is_unavailable():
    index = ChromaIndex.http(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(VectorIndexUnavailable, match="could not be reached"):
            await index.count("ch1")
    finally:
        await index.close()


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1:8000", "127.0.0.1:8000", "http://h:99999", "http://h:8000/api"]
)
def test_a_bad_server_url_is_refused(url):
    with pytest.raises(InvalidVectorInput, match="Chroma server URL"):
        ChromaIndex.http(url)


async def test_concurrent_queries_share_calls_and_answer_as_alone(tmp_path):
    rng = random.Random(5)
    index = ChromaIndex.embedded(tmp_path / "db")
    try:
        records = [
            VectorRecord(
                id=f"s{i % 7}:c{i}",
                vector=[rng.uniform(-1, 1) for _ in range(DIM)],
                metadata=chunk_metadata(chapter="ch", source=f"s{i % 7}", rev=1, tags=[]),
                document=f"doc {i}",
            )
            for i in range(200)
        ]
        await index.upsert("ch1", records)
        queries = [[rng.uniform(-1, 1) for _ in range(DIM)] for _ in range(24)]
        alone = [await index.query("ch1", q, 5) for q in queries]
        near_alone = [await index.nearest("ch1", q, 30) for q in queries]
        calls = index._plain.calls, index._ids_only.calls
        together = await asyncio.gather(*(index.query("ch1", q, 5) for q in queries))
        near_together = await asyncio.gather(*(index.nearest("ch1", q, 30) for q in queries))
        assert [[h.id for h in hits] for hits in together] == [[h.id for h in a] for a in alone]
        assert [[h.document for h in hits] for hits in together] == [
            [h.document for h in a] for a in alone
        ]
        assert [[i for i, _ in n] for n in near_together] == [[i for i, _ in n] for n in near_alone]
        # 24 queries in a few calls, not 24.
        assert index._plain.calls - calls[0] <= 2
        assert index._ids_only.calls - calls[1] <= 2
        # A namespace that does not exist answers every query of a batch with nothing.
        empty = await asyncio.gather(*(index.query("nowhere", q, 5) for q in queries[:4]))
        assert empty == [[], [], [], []]
    finally:
        await index.close()


OPEN_IN_CHILD = """
import asyncio, sys
from projections.vectorstores import VectorIndexUnavailable
from projections.vectorstores.chroma import ChromaIndex
try:
    index = ChromaIndex.embedded(sys.argv[1])
except VectorIndexUnavailable as exc:
    print(exc)
    sys.exit(3)
asyncio.run(index.close())
print("opened")
"""


def open_in_child(path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", OPEN_IN_CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
    )


async def test_a_second_process_cannot_open_an_embedded_index_in_use(tmp_path):
    index = ChromaIndex.embedded(tmp_path / "db")
    try:
        await index.upsert("ch1", [rec("src1:a")])
        child = open_in_child(tmp_path / "db")
        assert child.returncode == 3, child.stderr
        assert "in use by another process (pid " in child.stdout
        assert "need a Chroma server" in child.stdout
        # Within this process the directory is shared, and one holder closing keeps the other.
        same = ChromaIndex.embedded(tmp_path / "db")
        await same.close()
        assert await index.count("ch1") == 1
        assert open_in_child(tmp_path / "db").returncode == 3
    finally:
        await index.close()
    # Once this process let go, another may open it.
    child = open_in_child(tmp_path / "db")
    assert child.returncode == 0 and "opened" in child.stdout, child.stdout + child.stderr
