"""`Filter` in the metadata filter language Chroma and Pinecone share.

Both speak a MongoDB-like dialect: `{"key": {"$eq": v}}`, `{"key": {"$in": [...]}}`, `$and`, `$or`.
Chroma refuses an `$and`/`$or` with fewer than two operands, so single operands are unwrapped;
Pinecone accepts either form. Qdrant, pgvector, Milvus and Weaviate will need their own
translators, which is why backends receive the `Filter` and not this dialect.
"""

from collections.abc import Mapping
from typing import Any

from projections.vectorstores import (
    ADDED_REV,
    REMOVED_REV,
    TAG_PREFIX,
    Filter,
    InvalidVectorInput,
)

Expression = dict[str, Any]


def _combine(operator: str, operands: list[Expression]) -> Expression | None:
    if not operands:
        return None
    if len(operands) == 1:
        return operands[0]
    return {operator: operands}


def _names(values: list[str] | None, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        raise InvalidVectorInput(f"filter {what} must be a list of strings, not one string")
    for value in values:
        if not isinstance(value, str) or not value:
            raise InvalidVectorInput(f"filter {what} must be non-empty strings, got {value!r}")
    return sorted(set(values))


def _rev(value: int | None, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidVectorInput(f"filter {what} must be a rev (an integer >= 0), got {value!r}")
    return value


def _revs(filter: Filter) -> list[Expression]:
    added = _rev(filter.added_by, "added_by")
    removed = _rev(filter.removed_after, "removed_after")
    expressions: list[Expression] = []
    if added is not None:
        expressions.append({ADDED_REV: {"$lte": added}})
    if removed is not None:
        expressions.append({REMOVED_REV: {"$gt": removed}})
    return expressions


def where(filter: Filter | None) -> Expression | None:
    """The filter as a Chroma `where` / Pinecone `filter` expression, or None for no filter."""
    if filter is None:
        return None
    tags = _combine(
        "$or", [{TAG_PREFIX + t: {"$eq": True}} for t in _names(filter.tags_any, "tags")]
    )
    sources = _names(filter.sources, "sources")
    by_source: Expression | None = None
    if len(sources) == 1:
        by_source = {"source": {"$eq": sources[0]}}
    elif sources:
        by_source = {"source": {"$in": sources}}
    operands = [e for e in (tags, by_source) if e is not None]
    return _combine("$and", operands + _revs(filter))


def source_is(source: str) -> Expression:
    """The expression selecting one source's records."""
    return {"source": {"$eq": source}}


def admits(filter: Filter | None, metadata: Mapping[str, object]) -> bool:
    """Whether a record's metadata passes the filter: `where`'s meaning, evaluated in Python."""
    if filter is None:
        return True
    tags = _names(filter.tags_any, "tags")
    if tags and not any(metadata.get(TAG_PREFIX + t) is True for t in tags):
        return False
    sources = _names(filter.sources, "sources")
    if sources and metadata.get("source") not in sources:
        return False
    added, removed = _rev(filter.added_by, "added_by"), _rev(filter.removed_after, "removed_after")
    if added is not None and not _number_at_most(metadata.get(ADDED_REV), added):
        return False
    return removed is None or _number_above(metadata.get(REMOVED_REV), removed)


def _number_at_most(value: object, bound: int) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value <= bound


def _number_above(value: object, bound: int) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > bound
