"""Vector index backends behind one small interface.

The vectors projection keeps one *namespace* per chapter (the namespace is the chapter id) and
writes records whose id is `<source>:<chunk hash>`. Writes are idempotent upserts keyed by id, so
replaying a chapter's log changes nothing; that is also why the interface has no transactions.

What a backend must provide, whatever engine sits behind it (Chroma and Pinecone today; Qdrant,
pgvector, Milvus and Weaviate are meant to fit the same shape):

- **namespaces**: a cheap, isolated partition per chapter. Chroma uses a collection per
  namespace, Pinecone its namespaces; Qdrant can use a collection or a payload-indexed field,
  pgvector a `namespace` column, Milvus a partition key, Weaviate a tenant. A namespace that was
  never written reads as empty: querying, counting, listing, deleting from or dropping it is not
  an error.
- **records**: an ASCII id (1-512 characters, the strictest engine's rule), a dense vector of the
  namespace's dimension (fixed by the first write), flat metadata (str, int, float, bool values:
  no lists, no nesting, no None) and an optional document (the chunk text, returned with hits).
  Upserting an existing id *replaces* the record: metadata keys missing from the new record are
  gone afterwards, whatever the engine's own upsert does.
- **similarity**: cosine. `VectorHit.score` is the cosine similarity in [-1, 1], higher is
  better; engines that report a distance are converted (`1 - distance`).
- **filters**: `Filter` is deliberately tiny (tags, sources, and the revs a chunk lived between:
  `added_rev <= N`, `removed_rev > N`, for searches as of rev N) and each backend translates it
  (see `filters.py`). Tags are stored portably as one boolean key per tag, `tag:<name>` = True,
  because engines disagree about list-valued metadata; `chunk_metadata` builds that shape and
  `tags_of` reads it back.
- **errors**: bad input raises `InvalidVectorInput` (a `ValueError`) with a human message; a
  vector of the wrong dimension raises `VectorDimensionError`; an engine that refuses or cannot
  be reached raises `VectorIndexUnavailable`. Engine exceptions never leak.

Hosted engines (Pinecone) are eventually consistent: a write may take a moment to show in
`query`, `count` and `ids`. Embedded Chroma and Chroma server are read-your-writes.
"""

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import msgspec

Metadata = dict[str, str | int | float | bool]
"""Flat record metadata. The vectors projection always sets chapter, source, rev and tags."""

ADDED_REV = "added_rev"
"""Metadata key: the chapter rev at which a chunk became searchable (see `Filter.added_by`)."""

REMOVED_REV = "removed_rev"
"""Metadata key: the rev at which a chunk stopped being searchable (see `Filter.removed_after`)."""

TAG_PREFIX = "tag:"
"""Metadata key prefix of the one-boolean-per-tag encoding (`tag:<name>` = True)."""

RESERVED_PREFIX = "rs:"
"""Metadata keys starting with this belong to the backends (e.g. Pinecone keeps documents there)."""

MAX_K = 10_000
"""The largest `k` a query may ask for (Pinecone's ceiling; the others accept it)."""


class VectorRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One vector to store: a chunk of a source, embedded."""

    id: str
    """`<source>:<chunk hash>`; ASCII, 1-512 characters."""
    vector: list[float]
    """The embedding; every record of a namespace has the same dimension."""
    metadata: Metadata
    """Flat metadata (see `chunk_metadata` for the keys the projection sets)."""
    document: str | None = None
    """The chunk's text, returned with hits; None stores no text."""


class VectorHit(msgspec.Struct, frozen=True, kw_only=True):
    """One search result."""

    id: str
    """The record's id."""
    score: float
    """Cosine similarity in [-1, 1]; higher is more similar."""
    metadata: Metadata
    """The record's metadata, as stored."""
    document: str | None = None
    """The record's document, if it has one."""


class Filter(msgspec.Struct, frozen=True, kw_only=True):
    """Restricts a query; the conditions that are set must all hold.

    None or an empty list sets no condition (a search with no tags selected is not filtered).
    """

    tags_any: list[str] | None = None
    """Keep records carrying at least one of these tags."""
    sources: list[str] | None = None
    """Keep records whose `source` metadata is one of these source ids."""
    added_by: int | None = None
    """Keep records whose `added_rev` metadata is at most this rev (records without it fail)."""
    removed_after: int | None = None
    """Keep records whose `removed_rev` metadata is greater than this rev (records without it
    fail: a record still alive has no `removed_rev`)."""


class VectorIndexError(Exception):
    """Base of every error a vector index raises on purpose; the message is for people."""


class InvalidVectorInput(VectorIndexError, ValueError):
    """A namespace, id, vector, metadata value or argument that no backend may store or use."""


class VectorDimensionError(InvalidVectorInput):
    """A vector whose length differs from the namespace's (or the batch's) dimension."""


class VectorIndexUnavailable(VectorIndexError):
    """The engine refused the request (credentials) or could not be reached."""


@runtime_checkable
class VectorIndex(Protocol):
    """A cosine vector index partitioned into namespaces (one per chapter).

    All methods are coroutines except `ids`, an async generator. A namespace has one writer at a
    time (the worker folding that chapter); reads may run concurrently with it.
    """

    name: str
    """The backend's name for logs and reports, e.g. `chroma-embedded`, `pinecone`."""

    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Store records, replacing any with the same id (idempotent by id).

        If one id appears twice in `records`, the last one wins. Raises `InvalidVectorInput`
        before writing anything if any record is invalid.
        """
        ...

    async def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Remove records by id; ids that are not stored are ignored."""
        ...

    async def delete_source(self, namespace: str, source: str) -> None:
        """Remove every record whose `source` metadata equals `source`."""
        ...

    async def query(
        self, namespace: str, vector: Sequence[float], k: int, filter: Filter | None = None
    ) -> list[VectorHit]:
        """The at most `k` (1..MAX_K) most similar records, most similar first.

        An empty or unknown namespace gives []. Ranking is the engine's (approximate where the
        engine uses an approximate index, as Chroma's HNSW does).
        """
        ...

    async def nearest(
        self, namespace: str, vector: Sequence[float], n: int
    ) -> list[tuple[str, float]]:
        """Ids and scores of the `n` (1..MAX_K) most similar records, most similar first.

        Cheaper than `query` (no metadata, no documents): a caller that can filter by id, such as
        the vectors projection knowing which sources carry a tag, looks at many neighbours fast.
        """
        ...

    async def get(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorHit]:
        """The stored records among `ids` (score 0.0), with metadata and documents."""
        ...

    def ids(self, namespace: str) -> AsyncIterator[tuple[str, Metadata]]:
        """Every record's id and metadata, in no particular order (for digests and rebuilds)."""
        ...

    async def count(self, namespace: str) -> int:
        """How many records the namespace holds."""
        ...

    async def drop(self, namespace: str) -> None:
        """Remove the namespace and everything in it; dropping an unknown namespace is fine."""
        ...

    async def close(self) -> None:
        """Release connections and files; the index is not used afterwards."""
        ...


def chunk_metadata(
    *,
    chapter: str,
    source: str,
    rev: int,
    tags: Iterable[str] = (),
    extra: Mapping[str, str | int | float | bool] | None = None,
) -> Metadata:
    """The metadata the vectors projection stores with a chunk.

    Tags become one boolean key each (`tag:<name>` = True), which every engine can filter on, plus
    `tags`, the sorted tags joined by ", " for display only (read tags back with `tags_of`).
    """
    names = sorted(set(tags))
    for tag in names:
        if not isinstance(tag, str) or not tag.strip():
            raise InvalidVectorInput(f"a tag must be a non-empty string, got {tag!r}")
    metadata: Metadata = {"chapter": chapter, "source": source, "rev": rev}
    metadata["tags"] = ", ".join(names)
    for tag in names:
        metadata[TAG_PREFIX + tag] = True
    for key, value in (extra or {}).items():
        if key in metadata or key.startswith(TAG_PREFIX):
            raise InvalidVectorInput(f"extra metadata may not override the key {key!r}")
        metadata[key] = value
    return metadata


def tags_of(metadata: Mapping[str, object]) -> list[str]:
    """The tags recorded in metadata built by `chunk_metadata`, sorted."""
    return sorted(
        key[len(TAG_PREFIX) :]
        for key, value in metadata.items()
        if key.startswith(TAG_PREFIX) and value is True
    )


__all__ = [
    "ADDED_REV",
    "MAX_K",
    "REMOVED_REV",
    "RESERVED_PREFIX",
    "TAG_PREFIX",
    "Filter",
    "InvalidVectorInput",
    "Metadata",
    "VectorDimensionError",
    "VectorHit",
    "VectorIndex",
    "VectorIndexError",
    "VectorIndexUnavailable",
    "VectorRecord",
    "chunk_metadata",
    "tags_of",
]
