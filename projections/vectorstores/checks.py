"""Input checks every backend runs before it talks to its engine.

The rules are the strictest of the engines we support or plan to, so that a chapter indexed in one
backend can move to another: ids are ASCII (Pinecone), namespaces are short and plain (Chroma
collection names, Milvus partitions), numbers survive a float64 (Pinecone stores all numbers so),
vectors are finite and not all zero (cosine is undefined for the zero vector).
"""

import math
import re
from collections.abc import Sequence

import msgspec
import numpy as np

from projections.vectorstores import (
    MAX_K,
    RESERVED_PREFIX,
    InvalidVectorInput,
    Metadata,
    VectorDimensionError,
    VectorRecord,
)

_NAMESPACE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,58}[A-Za-z0-9])?")
_MAX_ID = 512
_MAX_EXACT_INT = 2**53  # the largest integer a float64 (Pinecone's number type) holds exactly


def check_namespace(namespace: str) -> str:
    """A namespace: 1-60 letters, digits, '_' or '-', starting and ending with a letter or digit."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise InvalidVectorInput(
            f"namespace {namespace!r} is not usable: it must be 1-60 letters, digits, '_' or '-',"
            " starting and ending with a letter or digit (a chapter id is)"
        )
    return namespace


def check_id(record_id: str) -> str:
    """A record id: ASCII, 1-512 characters, no NUL."""
    if not isinstance(record_id, str) or not record_id:
        raise InvalidVectorInput(f"a record id must be a non-empty string, got {record_id!r}")
    if len(record_id) > _MAX_ID:
        raise InvalidVectorInput(
            f"record id {record_id[:40]!r}… is {len(record_id)} characters; the limit is {_MAX_ID}"
        )
    if not record_id.isascii() or "\x00" in record_id:
        raise InvalidVectorInput(f"record id {record_id!r} must be ASCII without NUL characters")
    return record_id


def check_ids(ids: Sequence[str]) -> list[str]:
    """Ids to delete, de-duplicated in their first order."""
    if isinstance(ids, str):
        raise InvalidVectorInput("ids must be a sequence of ids, not one string")
    return list(dict.fromkeys(check_id(i) for i in ids))


def check_source(source: str) -> str:
    """A source id used as a delete selector."""
    if not isinstance(source, str) or not source:
        raise InvalidVectorInput(f"a source must be a non-empty string, got {source!r}")
    return source


def check_metadata(record_id: str, metadata: Metadata) -> Metadata:
    """Flat metadata with str, int, float or bool values that every engine stores as given."""
    if not isinstance(metadata, dict):
        raise InvalidVectorInput(f"record {record_id!r}: metadata must be a dict")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidVectorInput(f"record {record_id!r}: metadata keys must be non-empty text")
        if key.startswith((RESERVED_PREFIX, "$", "#")):
            raise InvalidVectorInput(
                f"record {record_id!r}: metadata key {key!r} is reserved"
                f" (keys may not start with {RESERVED_PREFIX!r}, '$' or '#')"
            )
        if isinstance(value, bool | str):
            continue
        if isinstance(value, int):
            if abs(value) > _MAX_EXACT_INT:
                raise InvalidVectorInput(
                    f"record {record_id!r}: metadata {key!r}={value} is too large to store exactly"
                    " (limit 2**53)"
                )
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidVectorInput(
                    f"record {record_id!r}: metadata {key!r} must be a finite number, got {value}"
                )
            continue
        raise InvalidVectorInput(
            f"record {record_id!r}: metadata {key!r} has a {type(value).__name__} value;"
            " only str, int, float and bool are stored"
        )
    return metadata


def _check_matrix(matrix: np.ndarray, what: str) -> None:
    if not np.isfinite(matrix).all():
        raise InvalidVectorInput(f"{what} contains NaN or infinite values")
    if (np.abs(matrix).max(axis=1) == 0).any():
        raise InvalidVectorInput(f"{what} is all zeros; cosine similarity is undefined for it")


def check_records(records: Sequence[VectorRecord]) -> list[VectorRecord]:
    """Valid records, the last of each id kept (in order of last appearance), vectors as lists."""
    if isinstance(records, VectorRecord):
        raise InvalidVectorInput("records must be a sequence of VectorRecord, not one record")
    latest: dict[str, VectorRecord] = {}
    for record in records:
        if not isinstance(record, VectorRecord):
            raise InvalidVectorInput(f"expected a VectorRecord, got {type(record).__name__}")
        check_id(record.id)
        check_metadata(record.id, record.metadata)
        if record.document is not None and not isinstance(record.document, str):
            raise InvalidVectorInput(f"record {record.id!r}: document must be text or None")
        latest.pop(record.id, None)
        latest[record.id] = record
    unique = list(latest.values())
    if not unique:
        return []
    dims = {len(r.vector) for r in unique}
    if 0 in dims:
        empty = next(r.id for r in unique if not r.vector)
        raise InvalidVectorInput(f"record {empty!r} has an empty vector")
    if len(dims) > 1:
        raise VectorDimensionError(
            f"records in one upsert have different dimensions: {sorted(dims)}"
        )
    try:
        matrix = np.asarray([r.vector for r in unique], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorInput(f"a vector holds something other than numbers: {exc}") from exc
    _check_matrix(matrix, "a record's vector")
    # Plain Python floats from here on: engines and JSON encoders differ on numpy scalars.
    return [
        msgspec.structs.replace(r, vector=row)
        for r, row in zip(unique, matrix.tolist(), strict=True)
    ]


def check_query(vector: Sequence[float], k: int) -> list[float]:
    """A query vector as a list of floats, with k in 1..MAX_K."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidVectorInput(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    try:
        row = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorInput(
            f"the query vector holds something other than numbers: {exc}"
        ) from exc
    if row.ndim != 1 or row.size == 0:
        raise InvalidVectorInput("the query vector must be a non-empty flat sequence of numbers")
    _check_matrix(row.reshape(1, -1), "the query vector")
    return row.tolist()
