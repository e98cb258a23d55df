"""The contract every vector index backend keeps; `index` runs each test on Chroma embedded, a real
Chroma server and Pinecone (the SDK against the fake data plane)."""

import hashlib
import math
from collections.abc import Iterable

import msgspec
import pytest

from projections.vectorstores import (
    Filter,
    InvalidVectorInput,
    VectorDimensionError,
    VectorIndex,
    VectorIndexError,
    VectorRecord,
    chunk_metadata,
    tags_of,
)
from tests.projections.vectorstores.conftest import vec


def rec(
    record_id: str,
    vector: list[float],
    *,
    source: str = "src1",
    tags: Iterable[str] = (),
    rev: int = 1,
    document: str | None = None,
) -> VectorRecord:
    return VectorRecord(
        id=record_id,
        vector=vector,
        metadata=chunk_metadata(chapter="ch", source=source, rev=rev, tags=tags),
        document=document,
    )


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


async def listing(index: VectorIndex, namespace: str) -> dict[str, dict]:
    return {record_id: metadata async for record_id, metadata in index.ids(namespace)}


async def digest(index: VectorIndex, namespace: str) -> str:
    rows = sorted((await listing(index, namespace)).items())
    return hashlib.sha256(msgspec.json.encode(rows, order="sorted")).hexdigest()


async def test_query_ranks_by_cosine_similarity(index, ns):
    # Five records at known angles from the query; scores must be their cosine similarities.
    namespace = ns("rank")
    records = [
        rec("src1:a", vec(1, 0), document="alpha", tags=["x"]),
        rec("src1:b", vec(1, 1), document="beta"),
        rec("src1:c", vec(0, 1), document="gamma"),
        rec("src1:d", vec(-1, 1)),
        rec("src1:e", vec(-1, -0.1)),
    ]
    await index.upsert(namespace, records)
    query = vec(1, 0.2)
    hits = await index.query(namespace, query, k=5)

    expected = sorted(records, key=lambda r: -cosine(r.vector, query))
    assert [h.id for h in hits] == [r.id for r in expected]
    for hit, record in zip(hits, expected, strict=True):
        assert hit.score == pytest.approx(cosine(record.vector, query), abs=1e-5)
        assert hit.metadata == record.metadata  # ints stay ints, tags stay booleans
        assert hit.document == record.document
    assert -1.0 <= hits[-1].score < 0  # similarity, not distance: opposite vectors score below 0
    assert tags_of(hits[0].metadata) == ["x"]


async def test_upsert_twice_keeps_one_record(index, ns):
    namespace = ns("idem")
    record = rec("src1:a", vec(1, 2, 3), document="text")
    await index.upsert(namespace, [record])
    before = await digest(index, namespace)
    # A replayed upsert changes nothing.
    await index.upsert(namespace, [record])
    assert await index.count(namespace) == 1
    assert await digest(index, namespace) == before


async def test_upsert_replaces_metadata_and_document(index, ns):
    namespace = ns("replace")
    await index.upsert(namespace, [rec("src1:a", vec(1, 0), tags=["old"], rev=1, document="v1")])
    # Same id, new tags, rev and document: the old tag must not survive.
    await index.upsert(namespace, [rec("src1:a", vec(1, 0), tags=["new"], rev=2, document="v2")])
    assert await index.count(namespace) == 1
    stored = (await listing(index, namespace))["src1:a"]
    assert stored == chunk_metadata(chapter="ch", source="src1", rev=2, tags=["new"])
    assert await index.query(namespace, vec(1, 0), 5, Filter(tags_any=["old"])) == []
    [hit] = await index.query(namespace, vec(1, 0), 5, Filter(tags_any=["new"]))
    assert hit.document == "v2"
    # A record written again without a document has none afterwards.
    await index.upsert(namespace, [rec("src1:a", vec(0, 1), tags=["new"], rev=3)])
    [hit] = await index.query(namespace, vec(0, 1), 5)
    assert (hit.document, hit.metadata["rev"]) == (None, 3)
    assert hit.score == pytest.approx(1.0, abs=1e-5)  # the vector was replaced too


async def test_one_id_twice_in_a_batch_keeps_the_last(index, ns):
    namespace = ns("dup")
    await index.upsert(
        namespace, [rec("src1:a", vec(1, 0), rev=1), rec("src1:a", vec(0, 1), rev=2)]
    )
    [hit] = await index.query(namespace, vec(0, 1), 3)
    assert hit.metadata["rev"] == 2
    assert await index.count(namespace) == 1


async def test_delete_by_id_ignores_missing_ids(index, ns):
    namespace = ns("del")
    await index.upsert(namespace, [rec(f"src1:{i}", vec(1, i)) for i in range(4)])
    await index.delete(namespace, ["src1:1", "src1:3", "src1:missing"])
    assert set(await listing(index, namespace)) == {"src1:0", "src1:2"}
    await index.delete(namespace, [])
    await index.delete(namespace, ["src1:1"])  # already gone
    assert await index.count(namespace) == 2


async def test_delete_source_removes_that_source_only(index, ns):
    namespace = ns("delsrc")
    await index.upsert(
        namespace,
        [rec(f"{s}:{i}", vec(1, i + 1), source=s) for s in ("srcA", "srcB") for i in range(3)],
    )
    await index.delete_source(namespace, "srcA")
    assert sorted(await listing(index, namespace)) == ["srcB:0", "srcB:1", "srcB:2"]
    await index.delete_source(namespace, "srcA")  # nothing left to delete: still fine
    assert await index.count(namespace) == 3


async def test_filters_by_any_tag_and_by_source(index, ns):
    namespace = ns("filter")
    await index.upsert(
        namespace,
        [
            rec("s1:a", vec(1, 0.1), source="s1", tags=["red"]),
            rec("s1:b", vec(1, 0.2), source="s1", tags=["blue", "green"]),
            rec("s2:c", vec(1, 0.3), source="s2", tags=["green"]),
            rec("s2:d", vec(1, 0.4), source="s2"),
        ],
    )

    async def found(filter: Filter | None) -> set[str]:
        return {h.id for h in await index.query(namespace, vec(1, 0), 10, filter)}

    assert await found(Filter(tags_any=["red"])) == {"s1:a"}
    assert await found(Filter(tags_any=["red", "green"])) == {"s1:a", "s1:b", "s2:c"}
    assert await found(Filter(tags_any=["purple"])) == set()
    assert await found(Filter(sources=["s2"])) == {"s2:c", "s2:d"}
    assert await found(Filter(sources=["s1", "s2"])) == {"s1:a", "s1:b", "s2:c", "s2:d"}
    assert await found(Filter(tags_any=["green"], sources=["s1"])) == {"s1:b"}
    # No condition, an empty list or None, filters nothing.
    assert await found(Filter(tags_any=[], sources=None)) == await found(None)
    assert len(await found(None)) == 4
    # The filter applies before k: the only red record is found even at k=1.
    [hit] = await index.query(namespace, vec(1, 0.4), 1, Filter(tags_any=["red"]))
    assert hit.id == "s1:a"


async def test_filters_by_the_revs_a_record_lived_between(index, ns):
    # Live records carry added_rev only; retired ones added_rev and removed_rev: "as of rev N"
    # is added_rev <= N on the first and added_rev <= N < removed_rev on the second.
    namespace = ns("revs")

    def lived(record_id: str, x: float, added: int, removed: int | None = None) -> VectorRecord:
        extra: dict[str, str | int | float | bool] = {"added_rev": added}
        if removed is not None:
            extra["removed_rev"] = removed
        metadata = chunk_metadata(chapter="ch", source="s1", rev=added, extra=extra)
        return VectorRecord(id=record_id, vector=vec(1, x), metadata=metadata)

    await index.upsert(
        namespace,
        [lived("s1:a", 0.1, 2), lived("s1:b", 0.2, 5), lived("s1:c:3", 0.3, 3, removed=6)],
    )

    async def found(filter: Filter) -> set[str]:
        return {h.id for h in await index.query(namespace, vec(1, 0), 10, filter)}

    assert await found(Filter(added_by=4)) == {"s1:a", "s1:c:3"}
    assert await found(Filter(added_by=1)) == set()
    assert await found(Filter(added_by=5, removed_after=5)) == {"s1:c:3"}
    assert await found(Filter(added_by=6, removed_after=6)) == set()
    assert await found(Filter(added_by=9, sources=["s1"])) == {"s1:a", "s1:b", "s1:c:3"}
    # Applies before k, like every condition.
    [hit] = await index.query(namespace, vec(1, 0.3), 1, Filter(added_by=2))
    assert hit.id == "s1:a"
    with pytest.raises(InvalidVectorInput, match="rev"):
        await index.query(namespace, vec(1, 0), 1, Filter(added_by=-1))


async def test_namespaces_are_isolated(index, ns):
    first, second = ns("one"), ns("two")
    await index.upsert(first, [rec("src1:a", vec(1, 0))])
    await index.upsert(second, [rec("src1:a", vec(0, 1), rev=9), rec("src1:b", vec(1, 1))])
    assert (await index.count(first), await index.count(second)) == (1, 2)
    [hit] = await index.query(first, vec(0, 1), 10)
    assert hit.metadata["rev"] == 1
    await index.delete_source(second, "src1")
    await index.drop(second)
    assert await index.count(first) == 1
    assert set(await listing(index, first)) == {"src1:a"}


async def test_ids_and_count_cover_every_record(index, ns):
    # More records than one page of any backend's listing (Pinecone 100, Chroma 1000).
    namespace = ns("many")
    records = [
        rec(f"src{i % 7}:{i:05d}", vec(1, i / 1000, (i % 13) - 6), source=f"src{i % 7}", rev=i)
        for i in range(1, 1051)
    ]
    await index.upsert(namespace, records)
    assert await index.count(namespace) == 1050
    listed = await listing(index, namespace)
    assert listed == {r.id: r.metadata for r in records}


async def test_drop_removes_the_namespace(index, ns):
    namespace = ns("drop")
    await index.upsert(namespace, [rec("src1:a", vec(1, 0)), rec("src1:b", vec(0, 1))])
    await index.drop(namespace)
    assert await index.count(namespace) == 0
    assert await index.query(namespace, vec(1, 0), 5) == []
    assert await listing(index, namespace) == {}
    await index.drop(namespace)  # dropping twice is fine
    # The namespace can be written again afterwards.
    await index.upsert(namespace, [rec("src1:c", vec(1, 1))])
    assert set(await listing(index, namespace)) == {"src1:c"}


async def test_an_unknown_namespace_reads_as_empty(index, ns):
    namespace = ns("never")
    assert await index.query(namespace, vec(1, 0), 5) == []
    assert await index.query(namespace, vec(1, 0), 5, Filter(tags_any=["x"])) == []
    assert await index.count(namespace) == 0
    assert await listing(index, namespace) == {}
    await index.delete(namespace, ["src1:a"])
    await index.delete_source(namespace, "src1")
    await index.drop(namespace)


async def test_k_larger_than_the_namespace_returns_everything(index, ns):
    namespace = ns("bigk")
    await index.upsert(namespace, [rec(f"src1:{i}", vec(1, i)) for i in range(3)])
    hits = await index.query(namespace, vec(1, 0), 100)
    assert [h.id for h in hits] == ["src1:0", "src1:1", "src1:2"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_wrong_dimension_is_a_clear_error(index, ns):
    namespace = ns("dim")
    await index.upsert(namespace, [rec("src1:a", vec(1, 0))])
    with pytest.raises(VectorDimensionError, match="dimension"):
        await index.upsert(namespace, [rec("src1:b", [1.0, 0.0, 0.0])])
    with pytest.raises(VectorDimensionError, match="dimension"):
        await index.query(namespace, [1.0, 0.0, 0.0], 3)
    # A batch that mixes dimensions is refused before anything is written.
    with pytest.raises(VectorDimensionError, match="different dimensions"):
        await index.upsert(namespace, [rec("src1:c", vec(1)), rec("src1:d", [1.0, 2.0])])
    assert set(await listing(index, namespace)) == {"src1:a"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (VectorRecord(id="", vector=vec(1), metadata={}), "non-empty"),
        (VectorRecord(id="src1:é", vector=vec(1), metadata={}), "ASCII"),
        (VectorRecord(id="x" * 513, vector=vec(1), metadata={}), "limit is 512"),
        (VectorRecord(id="src1:n", vector=vec(math.nan), metadata={}), "NaN"),
        (VectorRecord(id="src1:z", vector=vec(), metadata={}), "all zeros"),
        (VectorRecord(id="src1:e", vector=[], metadata={}), "empty vector"),
        (VectorRecord(id="src1:l", vector=vec(1), metadata={"tags": ["a"]}), "list value"),  # type: ignore[dict-item]
        (VectorRecord(id="src1:r", vector=vec(1), metadata={"rs:document": "x"}), "reserved"),
        (VectorRecord(id="src1:f", vector=vec(1), metadata={"w": math.inf}), "finite"),
        (VectorRecord(id="src1:i", vector=vec(1), metadata={"n": 2**60}), "too large"),
    ],
)
async def test_bad_records_are_refused_and_nothing_is_written(index, ns, bad, message):
    namespace = ns("bad")
    with pytest.raises(InvalidVectorInput, match=message):
        await index.upsert(namespace, [rec("src1:ok", vec(1, 0)), bad])
    assert await index.count(namespace) == 0


async def test_bad_arguments_are_refused(index, ns):
    namespace = ns("args")
    await index.upsert(namespace, [rec("src1:a", vec(1, 0))])
    with pytest.raises(InvalidVectorInput, match="namespace"):
        await index.upsert("bad namespace!", [rec("src1:a", vec(1, 0))])
    with pytest.raises(InvalidVectorInput, match="namespace"):
        await index.count("")
    with pytest.raises(InvalidVectorInput, match="k must be"):
        await index.query(namespace, vec(1), 0)
    with pytest.raises(InvalidVectorInput, match="k must be"):
        await index.query(namespace, vec(1), 10_001)
    with pytest.raises(InvalidVectorInput, match="all zeros"):
        await index.query(namespace, vec(), 3)
    with pytest.raises(InvalidVectorInput, match="non-empty strings"):
        await index.query(namespace, vec(1), 3, Filter(tags_any=[""]))
    with pytest.raises(InvalidVectorInput, match="not one string"):
        await index.delete(namespace, "src1:a")  # type: ignore[arg-type]
    with pytest.raises(InvalidVectorInput, match="source"):
        await index.delete_source(namespace, "")
    assert await index.count(namespace) == 1


async def test_a_closed_index_refuses_calls(index, ns):
    await index.close()
    with pytest.raises(VectorIndexError, match="closed"):
        await index.count(ns("closed"))
    await index.close()  # closing twice is fine


async def test_backend_fits_the_protocol_and_names_itself(index, request):
    assert isinstance(index, VectorIndex)
    assert index.name == {"chroma-embedded": "chroma-embedded", "chroma-http": "chroma-http"}.get(
        request.node.callspec.params["index"], "pinecone"
    )


async def test_a_rare_tag_far_from_the_query_is_still_found(index, ns):
    # 300 untagged records near the query and two tagged ones far from it: a backend that
    # filters after ranking must not stop at the near ones.
    namespace = ns("rare")
    near = [rec(f"src1:{i:03d}", vec(1, i / 300), source="src1") for i in range(300)]
    far = [
        rec("src2:x", vec(-1, 0.2), source="src2", tags=["rare"]),
        rec("src2:y", vec(-1, 0.1), source="src2", tags=["rare"]),
    ]
    await index.upsert(namespace, near + far)
    hits = await index.query(namespace, vec(1, 0), 5, Filter(tags_any=["rare"]))
    assert [h.id for h in hits] == ["src2:x", "src2:y"]
    hits = await index.query(namespace, vec(1, 0), 3, Filter(sources=["src2"]))
    assert [h.id for h in hits] == ["src2:x", "src2:y"]
    # A common tag is answered from the nearest records.
    hits = await index.query(namespace, vec(1, 0), 2, Filter(sources=["src1"]))
    assert [h.id for h in hits] == ["src1:000", "src1:001"]


async def test_nearest_gives_ids_and_scores_and_get_gives_the_records(index, ns):
    namespace = ns("near")
    records = [
        rec("src1:a", vec(1, 0), document="alpha", tags=["x"]),
        rec("src2:b", vec(1, 1), source="src2", document="beta"),
        rec("src3:c", vec(0, 1), source="src3"),
    ]
    await index.upsert(namespace, records)
    query = vec(1, 0.2)
    near = await index.nearest(namespace, query, 3)
    expected = sorted(records, key=lambda r: -cosine(r.vector, query))
    assert [i for i, _ in near] == [r.id for r in expected]
    for (_, score), r in zip(near, expected, strict=True):
        assert score == pytest.approx(cosine(r.vector, query), abs=1e-4)
    # The same answers as a full query, without metadata or documents.
    assert [h.id for h in await index.query(namespace, query, k=3)] == [i for i, _ in near]
    got = await index.get(namespace, ["src1:a", "src3:c", "nope:z"])
    assert set(got) == {"src1:a", "src3:c"}
    assert got["src1:a"].document == "alpha"
    assert got["src1:a"].metadata["source"] == "src1"
    assert got["src1:a"].metadata["tag:x"] is True
    # Unknown namespaces read as empty.
    assert await index.nearest(ns("never"), query, 3) == []
    assert await index.get(ns("never"), ["src1:a"]) == {}
