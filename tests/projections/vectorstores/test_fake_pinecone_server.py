"""The fake Pinecone data plane, driven by the real `pinecone` SDK: if the SDK can decode every
answer and the filter language behaves as Pinecone documents it, the backend tests mean something."""

import httpx
import pinecone
import pytest
from pinecone.errors.exceptions import ApiError, NotFoundError, UnauthorizedError

from tests.fakes.pinecone_server import FakePinecone


@pytest.fixture
def server():
    with FakePinecone(dimension=3) as fake:
        yield fake


@pytest.fixture
def idx(server):
    client = pinecone.Index(host=server.host, api_key=server.api_key)
    yield client
    client.close()


@pytest.fixture
def filled(idx):
    idx.upsert(
        vectors=[
            {
                "id": "a",
                "values": [1, 0, 0],
                "metadata": {"genre": "drama", "year": 2019, "on": True},
            },
            {"id": "b", "values": [0, 1, 0], "metadata": {"genre": "comedy", "year": 2021}},
            {
                "id": "c",
                "values": [1, 1, 0],
                "metadata": {"genre": ["comedy", "drama"], "year": 2020.5},
            },
            ("d", [0, 0, 1]),
        ],
        namespace="films",
    )
    return idx


def ids(response) -> set[str]:
    return {m.id for m in response.matches}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"genre": "drama"}, {"a", "c"}),  # implicit $eq; a list field matches any element
        ({"genre": {"$eq": "comedy"}}, {"b", "c"}),
        ({"genre": {"$ne": "drama"}}, {"b", "d"}),
        ({"genre": {"$in": ["drama", "horror"]}}, {"a", "c"}),
        ({"genre": {"$nin": ["drama"]}}, {"b", "d"}),
        ({"year": {"$gte": 2020}}, {"b", "c"}),
        ({"year": {"$lt": 2020}}, {"a"}),
        ({"year": 2019}, {"a"}),  # ints and floats are one number type
        ({"on": {"$eq": True}}, {"a"}),
        ({"on": {"$exists": False}}, {"b", "c", "d"}),
        ({"$or": [{"year": 2021}, {"on": True}]}, {"a", "b"}),
        ({"$and": [{"genre": "comedy"}, {"year": {"$gt": 2020}}]}, {"b", "c"}),
        ({"genre": "drama", "year": {"$gt": 2019}}, {"c"}),  # several keys are an implicit $and
    ],
)
def test_metadata_filters(filled, expression, expected):
    assert (
        ids(filled.query(top_k=10, vector=[1, 1, 1], namespace="films", filter=expression))
        == expected
    )


def test_query_ranks_by_cosine_and_returns_what_was_asked(filled):
    response = filled.query(top_k=2, vector=[1, 0.1, 0], namespace="films", include_metadata=True)
    assert [m.id for m in response.matches] == ["a", "c"]
    assert response.matches[0].score == pytest.approx(0.99503719, abs=1e-6)
    assert response.matches[0].metadata == {"genre": "drama", "year": 2019.0, "on": True}
    assert response.matches[0].values == []  # values only with include_values
    assert response.namespace == "films"
    by_id = filled.query(top_k=1, id="b", namespace="films", include_values=True)
    assert by_id.matches[0].id == "b" and by_id.matches[0].values == [0.0, 1.0, 0.0]


def test_fetch_list_and_stats(filled):
    fetched = filled.fetch(ids=["a", "zzz"], namespace="films")
    assert set(fetched.vectors) == {"a"}
    assert fetched.vectors["a"].values == [1.0, 0.0, 0.0]
    pages = list(filled.list(namespace="films", limit=3))
    assert [[v.id for v in p.vectors] for p in pages] == [["a", "b", "c"], ["d"]]
    assert [v.id for p in filled.list(namespace="films", prefix="c") for v in p.vectors] == ["c"]
    stats = filled.describe_index_stats()
    assert (stats.dimension, stats.total_vector_count, stats.metric) == (3, 4, "cosine")
    assert stats.namespaces["films"].vector_count == 4


def test_deletes(filled):
    filled.delete(ids=["a", "nope"], namespace="films")
    filled.delete(filter={"genre": {"$eq": "comedy"}}, namespace="films")
    assert [v.id for p in filled.list(namespace="films") for v in p.vectors] == ["d"]
    filled.delete(delete_all=True, namespace="films")
    assert filled.describe_index_stats().namespaces == {}
    with pytest.raises(NotFoundError, match="Namespace not found"):
        filled.delete(ids=["a"], namespace="elsewhere")
    filled.delete_namespace(name="films")
    with pytest.raises(NotFoundError):
        filled.delete_namespace(name="films")


def test_refusals_have_pinecone_error_bodies(server, idx):
    with pytest.raises(
        ApiError, match="Vector dimension 2 does not match the dimension of the index 3"
    ) as bad:
        idx.upsert(vectors=[("a", [1, 0])], namespace="n")
    assert bad.value.status_code == 400
    assert bad.value.body == {
        "code": 3,
        "message": "Vector dimension 2 does not match the dimension of the index 3",
        "details": [],
    }
    with pytest.raises(ApiError, match="at least one non-zero value"):
        idx.upsert(vectors=[("z", [0, 0, 0])], namespace="n")
    # The SDK checks metadata itself, so the fake's own check is reached with plain HTTP.
    answer = httpx.post(
        f"{server.host}/vectors/upsert",
        headers={"Api-Key": server.api_key},
        json={"vectors": [{"id": "m", "values": [1, 0, 0], "metadata": {"x": None}}]},
    )
    assert answer.status_code == 400
    assert "must be a string, number, boolean or list of strings" in answer.json()["message"]
    with pytest.raises(ApiError, match="unsupported filter operator"):
        idx.query(top_k=1, vector=[1, 0, 0], filter={"x": {"$regex": "a"}})
    assert server.describe_index_stats({})["totalVectorCount"] == 0
    stranger = pinecone.Index(host=server.host, api_key="wrong")
    try:
        with pytest.raises(UnauthorizedError, match="Invalid API Key"):
            stranger.describe_index_stats()
    finally:
        stranger.close()
