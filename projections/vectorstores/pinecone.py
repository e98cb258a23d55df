"""Pinecone, through the `pinecone` SDK's async REST data plane (no gRPC).

The index is created beforehand (dimension = the embedder's, metric = cosine) and addressed by
its host, e.g. `https://my-index-abc123.svc.aped-4627-b74a.pinecone.io`; a plain `http://` host is
accepted for loopback servers (tests use one). Namespaces are Pinecone namespaces.

What Pinecone does differently, and how the contract is kept:
- documents have no column of their own, so the document rides in metadata under `rs:document`
  (inside Pinecone's 40 KB metadata limit per record);
- numbers are float64 on Pinecone's side, so whole floats read back are returned as ints (the
  projection's numbers, like `rev`, are ints);
- touching a namespace that does not exist answers 404 for deletes: that reads as "nothing to do";
- upserts and fetches are split into requests of 100 records (the service caps request size);
- reads are eventually consistent on the real service (a fresh write may lag in query/count/ids).
"""

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pinecone
from pinecone.errors.exceptions import (
    ApiError,
    ForbiddenError,
    NotFoundError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    PineconeValueError,
    UnauthorizedError,
)

from projections.vectorstores import (
    RESERVED_PREFIX,
    Filter,
    InvalidVectorInput,
    Metadata,
    VectorDimensionError,
    VectorHit,
    VectorIndexError,
    VectorIndexUnavailable,
    VectorRecord,
)
from projections.vectorstores.checks import (
    check_ids,
    check_namespace,
    check_query,
    check_records,
    check_source,
)
from projections.vectorstores.filters import source_is, where

DOCUMENT_KEY = RESERVED_PREFIX + "document"
_BATCH = 100  # records per upsert/fetch/list request


def _translate(exc: Exception, host: str) -> VectorIndexError:
    """One of our errors for an exception the SDK raised."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, UnauthorizedError | ForbiddenError):
        return VectorIndexUnavailable(f"Pinecone at {host} refused the API key: {message}")
    if isinstance(exc, PineconeConnectionError | PineconeTimeoutError):
        return VectorIndexUnavailable(f"Pinecone at {host} could not be reached: {message}")
    if isinstance(exc, ApiError) and exc.status_code == 400:
        if "dimension" in message.lower():
            return VectorDimensionError(f"Pinecone at {host} refused the vector: {message}")
        return InvalidVectorInput(f"Pinecone at {host} refused the request: {message}")
    if isinstance(exc, PineconeValueError):
        return InvalidVectorInput(f"Pinecone client refused the request: {message}")
    return VectorIndexError(f"Pinecone at {host} failed: {message}")


def _read_metadata(stored: dict[str, Any] | None) -> tuple[Metadata, str | None]:
    """Our metadata and document from a Pinecone record's metadata."""
    metadata: Metadata = {}
    document = None
    for key, value in (stored or {}).items():
        if key == DOCUMENT_KEY:
            document = value
        elif key.startswith(RESERVED_PREFIX):
            continue
        elif isinstance(value, float) and value.is_integer():
            metadata[key] = int(value)  # Pinecone stores every number as a float64
        else:
            metadata[key] = value
    return metadata, document


class PineconeIndex:
    """A `VectorIndex` on one Pinecone index, addressed by its data-plane host."""

    name = "pinecone"

    def __init__(self, host: str, api_key: str, *, timeout: float = 30.0) -> None:
        """`host` is the index's data-plane URL; `api_key` a Pinecone API key."""
        if not api_key:
            raise InvalidVectorInput("a Pinecone API key is required")
        self._host = host
        try:
            self._index = pinecone.AsyncIndex(host=host, api_key=api_key, timeout=timeout)
        except PineconeError as exc:
            raise InvalidVectorInput(f"cannot use Pinecone host {host!r}: {exc}") from exc
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise VectorIndexError(f"the Pinecone index at {self._host} is closed")

    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Store records, replacing any with the same id (Pinecone's upsert replaces)."""
        check_namespace(namespace)
        valid = check_records(records)
        for record in valid:
            if DOCUMENT_KEY in record.metadata:  # checks.py refuses reserved keys; belt and braces
                raise InvalidVectorInput(f"metadata key {DOCUMENT_KEY!r} is reserved")
        self._check_open()
        payload = []
        for record in valid:
            metadata: dict[str, Any] = dict(record.metadata)
            if record.document is not None:
                metadata[DOCUMENT_KEY] = record.document
            payload.append({"id": record.id, "values": record.vector, "metadata": metadata})
        try:
            for start in range(0, len(payload), _BATCH):
                await self._index.upsert(
                    vectors=payload[start : start + _BATCH], namespace=namespace
                )
        except PineconeError as exc:
            raise _translate(exc, self._host) from exc

    async def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Remove records by id; unknown ids (and unknown namespaces) are ignored."""
        check_namespace(namespace)
        wanted = check_ids(ids)
        self._check_open()
        try:
            for start in range(0, len(wanted), 1000):
                await self._index.delete(ids=wanted[start : start + 1000], namespace=namespace)
        except NotFoundError:
            return  # the namespace does not exist: nothing to delete
        except PineconeError as exc:
            raise _translate(exc, self._host) from exc

    async def delete_source(self, namespace: str, source: str) -> None:
        """Remove every record of one source (delete by metadata filter)."""
        check_namespace(namespace)
        expression = source_is(check_source(source))
        self._check_open()
        try:
            await self._index.delete(filter=expression, namespace=namespace)
        except NotFoundError:
            return
        except PineconeError as exc:
            raise _translate(exc, self._host) from exc

    async def query(
        self, namespace: str, vector: Sequence[float], k: int, filter: Filter | None = None
    ) -> list[VectorHit]:
        """The at most k most similar records, most similar first."""
        check_namespace(namespace)
        query = check_query(vector, k)
        expression = where(filter)
        self._check_open()
        try:
            response = await self._index.query(
                top_k=k,
                vector=query,
                namespace=namespace,
                filter=expression,
                include_metadata=True,
            )
        except NotFoundError:
            return []
        except PineconeError as exc:
            raise _translate(exc, self._host) from exc
        hits = []
        for match in response.matches:
            metadata, document = _read_metadata(match.metadata)
            hits.append(
                VectorHit(
                    id=match.id, score=float(match.score), metadata=metadata, document=document
                )
            )
        return hits

    async def nearest(
        self, namespace: str, vector: Sequence[float], n: int
    ) -> list[tuple[str, float]]:
        """Ids and scores of the n nearest records (no metadata)."""
        check_namespace(namespace)
        query = check_query(vector, n)
        self._check_open()
        try:
            response = await self._index.query(
                top_k=n, vector=query, namespace=namespace, include_metadata=False
            )
        except NotFoundError:
            return []
        except PineconeError as exc:
            raise _translate(exc, self._host) from exc
        return [(match.id, float(match.score)) for match in response.matches]

    async def get(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorHit]:
        """The stored records among `ids`, with metadata and documents."""
        check_namespace(namespace)
        wanted = check_ids(ids)
        if not wanted:
            return {}
        self._check_open()
        try:
            fetched = await self._index.fetch(ids=list(wanted), namespace=namespace)
        except NotFoundError:
            return {}
        except PineconeError as exc:
            raise _translate(exc, self._host) from exc
        found = {}
        for record_id, record in fetched.vectors.items():
            metadata, document = _read_metadata(record.metadata)
            found[record_id] = VectorHit(
                id=record_id, score=0.0, metadata=metadata, document=document
            )
        return found

    async def ids(self, namespace: str) -> AsyncIterator[tuple[str, Metadata]]:
        """Every record's id and metadata: list the ids a page at a time, then fetch them."""
        check_namespace(namespace)
        self._check_open()
        try:
            async for page in self._index.list(namespace=namespace, limit=_BATCH):
                page_ids = [item.id for item in page.vectors if item.id]
                if not page_ids:
                    continue
                fetched = await self._index.fetch(ids=page_ids, namespace=namespace)
                for record_id in page_ids:
                    vector = fetched.vectors.get(record_id)
                    if vector is not None:  # deleted between list and fetch
                        yield record_id, _read_metadata(vector.metadata)[0]
        except NotFoundError:
            return
        except PineconeError as exc:
            raise _translate(exc, self._host) from exc

    async def count(self, namespace: str) -> int:
        """How many records the namespace holds (from the index statistics)."""
        check_namespace(namespace)
        self._check_open()
        try:
            stats = await self._index.describe_index_stats()
        except PineconeError as exc:
            raise _translate(exc, self._host) from exc
        summary = stats.namespaces.get(namespace)
        return summary.vector_count if summary is not None else 0

    async def drop(self, namespace: str) -> None:
        """Delete the namespace and its records; an unknown namespace is fine."""
        check_namespace(namespace)
        self._check_open()
        try:
            await self._index.delete_namespace(name=namespace)
        except NotFoundError:
            return
        except PineconeError as exc:
            raise _translate(exc, self._host) from exc

    async def close(self) -> None:
        """Close the HTTP connection pool; later calls fail."""
        if not self._closed:
            self._closed = True
            await self._index.close()
