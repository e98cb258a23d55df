"""The lexical index on PostgreSQL: full-text search beside the other read models there.

The same functions as `projections.lexical` (SQLite FTS5), called the same way
(`lexical.backend(views)` picks the module), so the vectors projection writes it inside the
transaction that stores its per-source state and checkpoint, exactly as in SQLite.

One table for every chapter, `lexical_rows`, keyed by (chapter, record id); PostgreSQL keeps
each row's `terms` (a tsvector: English stemming, as FTS5's porter tokenizer stems) as a
generated column with a GIN index, and `lexical_chapters` says which chapters have an index (it
may be empty), as the per-chapter tables do in SQLite. (One GIN index for every chapter: a
term's postings span chapters and the chapter is filtered after; the `btree_gin` extension's
(chapter, terms) index would narrow that, at the price of an extension to install.)
Punctuation is split off before parsing
(the `terms` expression, store_postgres.MIGRATIONS step 2), so codes such as "E-4021" or
"PN-7100-A" are found by their parts, as in SQLite.

Queries are free text, turned into the same terms as in SQLite (`lexical.query_terms`), OR-ed
through `websearch_to_tsquery` (the terms hold only letters, digits and `_`, never its syntax)
and ranked with `ts_rank_cd` (cover density, normalised by document length): not BM25, so
scores differ from SQLite's, but, like them, higher is better and rarer terms matched in more
places rank first. Unlike FTS5's remove_diacritics, accents are kept: "Müller" does not match
"Muller".
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

from events import Span
from projections.lexical import (
    COMMON_SHARE,
    RARE_MIN,
    RARE_SHARE,
    LexicalHit,
    LexicalRow,
    lookup_terms,
    query_terms,
)
from projections.store_postgres import PgTransaction, PostgresViews

__all__ = [
    "delete_ids",
    "delete_sources",
    "drop_chapter",
    "drop_outdated",
    "ensure",
    "exists",
    "exists_within",
    "missing_chapters",
    "rare_terms",
    "rows_of",
    "search",
    "write_rows",
]

_COMMON_FROM = 20_000
"""As `projections.lexical`'s: below this size every word of a query is kept."""
_SPLIT = re.compile(r"[\W_]+", re.UNICODE)
_COLUMNS = 'id, source, source_name, chunk, start, "end", page, heading, text, cite'


def _query(terms: Sequence[str], *, every: bool = False) -> str | None:
    """websearch_to_tsquery's text for `terms`: OR-ed (or all required, `every`)."""
    # `_` parts are split as the indexed text's are; a multi-part term needs all its parts.
    words = [" ".join(_SPLIT.split(t)).strip() for t in terms]
    words = [w for w in words if w]
    return (" " if every else " or ").join(words) or None


async def ensure(db: PgTransaction, chapter: str) -> str:
    """Mark the chapter as having an index (inside the open transaction `db`); the table."""
    await db.execute(
        "INSERT INTO lexical_chapters (chapter) VALUES (?) ON CONFLICT DO NOTHING", (chapter,)
    )
    return "lexical_rows"


async def exists(views: PostgresViews, chapter: str) -> bool:
    """Whether `chapter` has a lexical index (it may be empty)."""
    row = await views.fetchone("SELECT 1 FROM lexical_chapters WHERE chapter = ?", (chapter,))
    return row is not None


async def exists_within(db: PgTransaction, chapter: str) -> bool:
    """`exists`, asked inside the open transaction `db` (no second connection from the pool)."""
    rows = await db.execute_fetchall("SELECT 1 FROM lexical_chapters WHERE chapter = ?", (chapter,))
    return bool(rows)


async def missing_chapters(views: PostgresViews) -> int:
    """How many chapters the vectors projection folded that have no lexical index."""
    row = await views.fetchone(
        "SELECT count(DISTINCT chapter) FROM vectors_sources WHERE chapter NOT IN "
        "(SELECT chapter FROM lexical_chapters)"
    )
    return int(row[0]) if row else 0


async def write_rows(db: PgTransaction, chapter: str, rows: Sequence[LexicalRow]) -> None:
    """Store `rows` inside the open transaction `db`, replacing rows with the same id."""
    if not rows:
        return
    await db.executemany(
        f"INSERT INTO lexical_rows (chapter, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (chapter, id) DO UPDATE SET source = excluded.source, "
        "source_name = excluded.source_name, chunk = excluded.chunk, start = excluded.start, "
        '"end" = excluded."end", page = excluded.page, heading = excluded.heading, '
        "text = excluded.text, cite = excluded.cite",
        [
            (chapter, r.id, r.source, r.source_name, r.chunk, r.span.start, r.span.end,
             r.span.page, r.span.heading, r.text, r.cite)
            for r in rows
        ],
    )  # fmt: skip


async def delete_ids(db: PgTransaction, chapter: str, ids: Collection[str]) -> None:
    """Remove rows by record id; unknown ids are ignored."""
    if ids:
        await db.execute(
            "DELETE FROM lexical_rows WHERE chapter = ? AND id = ANY(?)", (chapter, sorted(ids))
        )


async def delete_sources(db: PgTransaction, chapter: str, sources: Collection[str]) -> None:
    """Remove every row of these sources."""
    if sources:
        await db.execute(
            "DELETE FROM lexical_rows WHERE chapter = ? AND source = ANY(?)",
            (chapter, sorted(sources)),
        )


async def drop_chapter(db: PgTransaction, chapter: str) -> None:
    """Remove the chapter's lexical index: its rows and its mark."""
    await db.execute("DELETE FROM lexical_rows WHERE chapter = ?", (chapter,))
    await db.execute("DELETE FROM lexical_chapters WHERE chapter = ?", (chapter,))


async def drop_outdated(db: PgTransaction) -> list[str]:
    """No index here predates `cite` (the column is in the first schema): nothing to drop."""
    return []


async def _size(views: PostgresViews, chapter: str) -> int:
    row = await views.fetchone("SELECT count(*) FROM lexical_rows WHERE chapter = ?", (chapter,))
    return int(row[0]) if row else 0


async def _matches(views: PostgresViews, chapter: str, term: str, cap: int) -> int:
    """Rows of the chapter holding `term`, counted no further than `cap` + 1."""
    query = _query([term])
    if query is None:
        return 0
    row = await views.fetchone(
        "SELECT count(*) FROM (SELECT 1 FROM lexical_rows WHERE chapter = ? AND terms @@ "
        "websearch_to_tsquery('english', ?) LIMIT ?) AS m",
        (chapter, query, cap + 1),
    )
    return int(row[0]) if row else 0


async def _pruned_query(views: PostgresViews, chapter: str, text: str) -> str | None:
    # The rule of `projections.lexical._pruned_query`: in a large chapter, words that most
    # chunks hold are left out while rarer ones remain.
    terms = query_terms(text)
    if len(terms) < 2:
        return _query(terms)
    size = await _size(views, chapter)
    if size < _COMMON_FROM:
        return _query(terms)
    cap = int(COMMON_SHARE * size)
    kept = [t for t in terms if await _matches(views, chapter, t, cap) <= cap]
    return _query(kept) if kept else _query(terms, every=True)


async def search(
    views: PostgresViews,
    chapter: str,
    text: str,
    k: int,
    *,
    sources: Collection[str] | None = None,
) -> list[LexicalHit]:
    """The `k` best matches of `text` in `chapter`, best first (`lexical.search`'s contract)."""
    if (sources is not None and not sources) or k <= 0 or not await exists(views, chapter):
        return []
    query = await _pruned_query(views, chapter, text)
    if query is None:
        return []
    within = ""
    params: list[Any] = [query, chapter]
    if sources is not None:
        within = " AND source = ANY(?)"
        params.append(sorted(sources))
    params.append(k)
    rows = await views.fetchall(
        f"SELECT {_COLUMNS}, ts_rank_cd(terms, q, 1) AS score "
        "FROM lexical_rows, websearch_to_tsquery('english', ?) AS q "
        f"WHERE chapter = ? AND terms @@ q{within} "
        "ORDER BY score DESC, id LIMIT ?",  # the id breaks ties, so rebuilds rank alike
        params,
    )
    return [
        LexicalHit(
            row=LexicalRow(
                id=r[0], source=r[1], source_name=r[2], chunk=r[3],
                span=Span(start=r[4], end=r[5], page=r[6], heading=r[7]), text=r[8],
                cite=r[9],
            ),
            score=float(r[10]),
        )
        for r in rows
    ]  # fmt: skip


async def rare_terms(views: PostgresViews, chapter: str, text: str) -> set[str]:
    """The lookup-shaped words of `text` few chunks of `chapter` contain (`lexical.rare_terms`)."""
    terms = sorted(lookup_terms(text))[:8]
    if not terms or not await exists(views, chapter):
        return set()
    limit = max(RARE_MIN, int(RARE_SHARE * await _size(views, chapter)))
    rare = set()
    for term in terms:
        if 0 < await _matches(views, chapter, term, limit) <= limit:
            rare.add(term)
    return rare


async def rows_of(views: PostgresViews, chapter: str) -> list[tuple[object, ...]]:
    """Every row of the chapter's index (id order), for digests and rebuild comparisons."""
    if not await exists(views, chapter):
        return []
    return await views.fetchall(
        f"SELECT {_COLUMNS} FROM lexical_rows WHERE chapter = ? ORDER BY id", (chapter,)
    )
