"""Chroma: embedded (`PersistentClient`, the default) or a Chroma server (`HttpClient`).

One collection per namespace, named `rs_<namespace>`, with the cosine space. Embeddings are always
passed in and the collection gets no embedding function, so Chroma never tries to download its
default model (it would fail offline). The client is blocking, so every call runs in a thread.

Chroma's own `upsert` merges metadata into an existing record and keeps its old document when
the new one is None; our contract is replace, so `upsert` reads the existing records of the batch
first, sets the keys that disappeared to None (Chroma's "remove this key"), and deletes records
whose document must go before writing them again.

It is one module (about 490 lines) because everything in it is one adapter over one client and
its collection handles: the replace-on-upsert contract, the coalesced queries and the
one-writer guard of the embedded store each need the others' state.
"""

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import chromadb
import chromadb.errors
import httpx
import msgspec
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings

from projections.batching import Coalescer
from projections.vectorstores import (
    MAX_K,
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
from projections.vectorstores.dirlock import DirectoryInUse, DirectoryLock
from projections.vectorstores.filters import admits, source_is, where

COLLECTION_PREFIX = "rs_"
_CONFIGURATION: Any = {"hnsw": {"space": "cosine"}}
_PAGE = 1000  # records per `get` page when listing ids
# A filtered query first asks for this many unfiltered neighbours and filters them itself (see
# `query`); Chroma's own filtered search measured 5-10x slower than an unfiltered one.
_OVERFETCH_MIN = 50
_OVERFETCH_FACTOR = 5
_OVERFETCH_WIDE = 400


def _windows(k: int) -> list[int]:
    """How many unfiltered neighbours to look at before asking Chroma to filter."""
    first = min(MAX_K, max(_OVERFETCH_MIN, _OVERFETCH_FACTOR * k))
    second = min(MAX_K, max(_OVERFETCH_WIDE, 10 * first))
    return [first, second] if second > first else [first]


_T = TypeVar("_T")


def _settings() -> Settings:
    # Telemetry would try to reach the internet on every client start; this machine is offline.
    return Settings(anonymized_telemetry=False)


def _translate(exc: Exception, where: str) -> VectorIndexError:
    """One of our errors for an exception Chroma (or its HTTP transport) raised."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, chromadb.errors.InvalidArgumentError) and "dimension" in message:
        return VectorDimensionError(f"Chroma at {where} refused the vector: {message}")
    if isinstance(exc, chromadb.errors.ChromaAuthError | chromadb.errors.AuthorizationError):
        return VectorIndexUnavailable(f"Chroma at {where} refused the credentials: {message}")
    if isinstance(exc, httpx.HTTPError | ConnectionError | TimeoutError):
        return VectorIndexUnavailable(f"Chroma at {where} could not be reached: {message}")
    if isinstance(exc, ValueError) and "connect" in message.lower():
        # HttpClient reports an unreachable server as a bare ValueError when it is created.
        return VectorIndexUnavailable(f"Chroma at {where} could not be reached: {message}")
    if isinstance(exc, chromadb.errors.InvalidArgumentError | ValueError | TypeError):
        return InvalidVectorInput(f"Chroma at {where} refused the request: {message}")
    return VectorIndexError(f"Chroma at {where} failed: {message}")


class ChromaIndex:
    """A `VectorIndex` on Chroma; build it with `ChromaIndex.embedded` or `ChromaIndex.http`."""

    def __init__(
        self,
        connect: Callable[[], ClientAPI],
        *,
        name: str,
        where: str,
        lock: DirectoryLock | None = None,
    ) -> None:
        """Prefer the named constructors; `connect` makes the client on first use (in a thread).
        `lock` is released when the index is closed."""
        self.name = name
        self._lock_on_dir = lock
        self._where = where
        self._connect = connect
        self._client: ClientAPI | None = None
        self._collections: dict[str, Collection] = {}
        # Chroma's client is used from worker threads; this guards our own lazy state only.
        self._lock = threading.Lock()
        self._closed = False

        # Concurrent searches of one namespace share Chroma calls (a third of the time each).
        def bad_input(exc: Exception) -> bool:
            return isinstance(exc, InvalidVectorInput)

        self._plain: Coalescer[tuple[str, int], list[float], list[VectorHit]] = Coalescer(
            self._plain_batch, isolate=bad_input
        )
        self._ids_only: Coalescer[tuple[str, int], list[float], list[tuple[str, float]]] = (
            Coalescer(self._ids_only_batch, isolate=bad_input)
        )

    @classmethod
    def embedded(cls, path: str | Path) -> "ChromaIndex":
        """Chroma in this process, persisted in the directory `path` (created if missing).

        Raises VectorIndexUnavailable if another process has the directory open: embedded
        Chroma has one writer, so processes that share an index need a Chroma server."""
        folder = Path(path)
        try:
            lock = DirectoryLock(folder)
        except DirectoryInUse as exc:
            raise VectorIndexUnavailable(
                f"the embedded Chroma index in {folder} is in use by another process "
                f"({exc.holder}); processes that share one index need a Chroma server "
                "(set [vectors] url, or RAGSTACK_VECTORS_URL)"
            ) from None
        except OSError as exc:
            raise VectorIndexUnavailable(
                f"cannot open the Chroma directory {folder}: {exc.strerror or exc}"
            ) from None

        def connect() -> ClientAPI:
            folder.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(folder), settings=_settings())

        return cls(connect, name="chroma-embedded", where=str(folder), lock=lock)

    @classmethod
    def http(cls, url: str, *, headers: dict[str, str] | None = None) -> "ChromaIndex":
        """A Chroma server at `url`, e.g. `http://127.0.0.1:8000`; nothing connects until used."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidVectorInput(
                f"a Chroma server URL looks like http://host:port, got {url!r}"
            )
        if parts.path not in ("", "/"):
            raise InvalidVectorInput(f"a Chroma server URL has no path, got {url!r}")
        ssl = parts.scheme == "https"
        try:
            port = parts.port or (443 if ssl else 8000)
        except ValueError as exc:
            raise InvalidVectorInput(f"bad port in Chroma server URL {url!r}") from exc
        host = parts.hostname

        def connect() -> ClientAPI:
            return chromadb.HttpClient(
                host=host, port=port, ssl=ssl, headers=headers, settings=_settings()
            )

        return cls(connect, name="chroma-http", where=url)

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], _T]) -> _T:
        if self._closed:
            raise VectorIndexError(f"the Chroma index at {self._where} is closed")
        try:
            return await asyncio.to_thread(fn)
        except VectorIndexError:
            raise
        except Exception as exc:
            raise _translate(exc, self._where) from exc

    def _client_now(self) -> ClientAPI:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _collection(self, namespace: str, *, create: bool) -> Collection | None:
        """The namespace's collection; None if it does not exist and `create` is false."""
        with self._lock:
            cached = self._collections.get(namespace)
        if cached is not None:
            return cached
        client = self._client_now()
        name = COLLECTION_PREFIX + namespace
        if create:
            collection = client.get_or_create_collection(
                name, configuration=_CONFIGURATION, embedding_function=None
            )
        else:
            try:
                collection = client.get_collection(name, embedding_function=None)
            except chromadb.errors.NotFoundError:
                return None
        space = (collection.configuration_json.get("hnsw") or {}).get("space")
        if space != "cosine":
            raise VectorIndexError(
                f"Chroma collection {name!r} at {self._where} uses the {space!r} space, not"
                " cosine; drop the namespace to rebuild it"
            )
        with self._lock:
            self._collections[namespace] = collection
        return collection

    def _with_collection(
        self, namespace: str, create: bool, fn: Callable[[Collection], _T], empty: _T
    ) -> _T:
        """Run `fn` on the collection; a cached handle whose collection vanished is refreshed."""
        for attempt in (1, 2):
            collection = self._collection(namespace, create=create)
            if collection is None:
                return empty
            try:
                return fn(collection)
            except chromadb.errors.NotFoundError:
                # Dropped behind our back (another process): forget the handle and look again.
                with self._lock:
                    self._collections.pop(namespace, None)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- the interface ----------------------------------------------------------------------

    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Store records, replacing any with the same id."""
        check_namespace(namespace)
        valid = check_records(records)
        if not valid:
            return

        def write(collection: Collection) -> None:
            size = min(self._client_now().get_max_batch_size(), 1000)
            for start in range(0, len(valid), size):
                _replace(collection, valid[start : start + size])

        await self._run(lambda: self._with_collection(namespace, True, write, None))

    async def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Remove records by id; unknown ids are ignored."""
        check_namespace(namespace)
        wanted = check_ids(ids)
        if not wanted:
            return

        def remove(collection: Collection) -> None:
            for start in range(0, len(wanted), 1000):
                collection.delete(ids=wanted[start : start + 1000])

        await self._run(lambda: self._with_collection(namespace, False, remove, None))

    async def delete_source(self, namespace: str, source: str) -> None:
        """Remove every record of one source."""
        check_namespace(namespace)
        expression = source_is(check_source(source))
        await self._run(
            lambda: self._with_collection(
                namespace, False, lambda c: c.delete(where=expression), None
            )
        )

    async def query(
        self, namespace: str, vector: Sequence[float], k: int, filter: Filter | None = None
    ) -> list[VectorHit]:
        """The at most k most similar records, most similar first."""
        check_namespace(namespace)
        query = check_query(vector, k)
        expression = where(filter)
        if expression is None:
            return await self._plain.submit((namespace, k), query)

        def with_documents(collection: Collection, hits: list[VectorHit]) -> list[VectorHit]:
            if not hits:
                return hits
            got = collection.get(ids=[h.id for h in hits], include=["documents"])
            documents = dict(zip(got["ids"], got["documents"] or [], strict=False))
            return [msgspec.structs.replace(h, document=documents.get(h.id)) for h in hits]

        def search(collection: Collection) -> list[VectorHit]:
            # The nearest `wide` records, filtered here: if k of them pass, no record that passes
            # can rank above them, so they are the answer. The window widens once (a tag on a
            # tenth of the chunks needs a few hundred neighbours for k hits); past that (a rare
            # tag, a small source) Chroma's own filter is faster. Documents are fetched only
            # for the records kept.
            for wide in _windows(k):
                hits = _nearest_hits(collection, [query], wide, None, with_documents=False)[0]
                kept = [h for h in hits if admits(filter, h.metadata)]
                if len(kept) >= k or len(hits) < wide:  # enough, or the namespace was seen whole
                    return with_documents(collection, kept[:k])
            return _nearest_hits(collection, [query], k, expression)[0]

        return await self._run(lambda: self._with_collection(namespace, False, search, []))

    async def _plain_batch(
        self, key: tuple[str, int], queries: list[list[float]]
    ) -> list[list[VectorHit]]:
        """Concurrent unfiltered queries of one namespace and k, in one Chroma call."""
        namespace, k = key
        return await self._run(
            lambda: self._with_collection(
                namespace,
                False,
                lambda c: _nearest_hits(c, queries, k, None),
                [[] for _ in queries],
            )
        )

    async def nearest(
        self, namespace: str, vector: Sequence[float], n: int
    ) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the n nearest records (no metadata: fast)."""
        check_namespace(namespace)
        return await self._ids_only.submit((namespace, n), check_query(vector, n))

    async def _ids_only_batch(
        self, key: tuple[str, int], queries: list[list[float]]
    ) -> list[list[tuple[str, float]]]:
        """Concurrent ids-only queries of one namespace and n, in one Chroma call."""
        namespace, n = key

        def search(collection: Collection) -> list[list[tuple[str, float]]]:
            result = collection.query(query_embeddings=queries, n_results=n, include=["distances"])
            return [
                [(i, _similarity(d)) for i, d in zip(ids, distances, strict=True)]
                for ids, distances in zip(result["ids"], result["distances"] or [], strict=True)
            ]

        return await self._run(
            lambda: self._with_collection(namespace, False, search, [[] for _ in queries])
        )

    async def get(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorHit]:
        """The stored records among `ids`, with metadata and documents."""
        check_namespace(namespace)
        wanted = check_ids(ids)
        if not wanted:
            return {}

        def fetch(collection: Collection) -> dict[str, VectorHit]:
            got = collection.get(ids=list(wanted), include=["metadatas", "documents"])
            metadatas = got["metadatas"] or [None] * len(got["ids"])
            documents = got["documents"] or [None] * len(got["ids"])
            return {
                i: VectorHit(id=i, score=0.0, metadata=dict(m or {}), document=d)
                for i, m, d in zip(got["ids"], metadatas, documents, strict=True)
            }

        return await self._run(lambda: self._with_collection(namespace, False, fetch, {}))

    async def ids(self, namespace: str) -> AsyncIterator[tuple[str, Metadata]]:
        """Every record's id and metadata, a page at a time."""
        check_namespace(namespace)
        offset = 0
        while True:
            start = offset

            def page(collection: Collection, start: int = start) -> list[tuple[str, Metadata]]:
                got = collection.get(include=["metadatas"], limit=_PAGE, offset=start)
                metadatas = got["metadatas"] or [None] * len(got["ids"])
                return [(i, dict(m or {})) for i, m in zip(got["ids"], metadatas, strict=True)]

            rows = await self._run(
                lambda page=page: self._with_collection(namespace, False, page, [])
            )
            for row in rows:
                yield row
            if len(rows) < _PAGE:
                return
            offset += len(rows)

    async def count(self, namespace: str) -> int:
        """How many records the namespace holds."""
        check_namespace(namespace)
        return await self._run(
            lambda: self._with_collection(namespace, False, lambda c: c.count(), 0)
        )

    async def drop(self, namespace: str) -> None:
        """Delete the namespace's collection, if there is one."""
        check_namespace(namespace)

        def remove() -> None:
            with self._lock:
                self._collections.pop(namespace, None)
            with contextlib.suppress(chromadb.errors.NotFoundError):
                self._client_now().delete_collection(COLLECTION_PREFIX + namespace)

        await self._run(remove)

    async def close(self) -> None:
        """Release the client (files and connections); later calls fail."""
        if self._closed:
            return
        with self._lock:
            client, self._client = self._client, None
            self._collections.clear()
        self._closed = True
        try:
            if client is not None:
                close = getattr(client, "close", None)
                if close is not None:
                    await asyncio.to_thread(close)
        finally:
            if self._lock_on_dir is not None:
                self._lock_on_dir.release()


def _similarity(distance: float) -> float:
    # cosine distance is 1 - similarity; float32 rounding can step past ±1
    return max(-1.0, min(1.0, 1.0 - float(distance)))


def _nearest_hits(
    collection: Collection,
    queries: list[list[float]],
    n: int,
    where: Any,
    *,
    with_documents: bool = True,
) -> list[list[VectorHit]]:
    """The n nearest records of each query (one Chroma call for them all)."""
    include: Any = ["metadatas", "distances", *(["documents"] if with_documents else [])]
    result = collection.query(query_embeddings=queries, n_results=n, where=where, include=include)
    answers = []
    for row, ids in enumerate(result["ids"]):
        metadatas = result["metadatas"][row] if result["metadatas"] else [None] * len(ids)
        documents = result["documents"][row] if result.get("documents") else [None] * len(ids)
        distances = result["distances"][row] if result["distances"] else []
        answers.append(
            [
                VectorHit(id=i, score=_similarity(d), metadata=dict(m or {}), document=doc)
                for i, m, doc, d in zip(ids, metadatas, documents, distances, strict=True)
            ]
        )
    return answers


def _replace(collection: Collection, batch: list[VectorRecord]) -> None:
    """Upsert one batch with replace semantics (see the module docstring)."""
    ids = [r.id for r in batch]
    existing = collection.get(ids=ids, include=["metadatas", "documents"])
    old_metadata: dict[str, dict[str, Any]] = {}
    old_document: dict[str, str | None] = {}
    for i, m, d in zip(
        existing["ids"],
        existing["metadatas"] or [None] * len(existing["ids"]),
        existing["documents"] or [None] * len(existing["ids"]),
        strict=True,
    ):
        old_metadata[i] = dict(m or {})
        old_document[i] = d
    metadatas: list[Any] = []
    for record in batch:
        metadata: dict[str, Any] = dict(record.metadata)
        for key in old_metadata.get(record.id, {}):
            metadata.setdefault(key, None)  # None removes the key in Chroma
        metadatas.append(metadata or None)  # Chroma refuses an empty dict; None means none
    cleared = [
        n for n, r in enumerate(batch) if r.document is None and old_document.get(r.id) is not None
    ]
    if cleared:
        # Chroma cannot set a document back to None; delete those records and write them anew.
        collection.delete(ids=[ids[n] for n in cleared])
        for n in cleared:
            metadatas[n] = dict(batch[n].metadata) or None
    collection.upsert(
        ids=ids,
        embeddings=[r.vector for r in batch],
        metadatas=metadatas,
        documents=[r.document for r in batch],
    )
