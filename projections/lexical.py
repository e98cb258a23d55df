"""The lexical index: one SQLite FTS5 index per chapter, in the views database.

The vectors projection keeps it from the same chunks and events as the vector index and writes it
inside the transaction that stores its per-source state and checkpoint, so the two can never
disagree about what a chapter holds (a replayed batch rewrites the same rows). Names, codes,
numbers and rare words, which nearest-neighbour search misses, are what it finds.

Each chapter has a row table `lexical_<chapter>` (record id, source, span, text, the source's
"Author (Year)") and an FTS5 index over its text kept by triggers (external content: the text is
stored once). Per chapter rather than one shared table: BM25's document frequencies are the
chapter's own, and dropping a chapter is dropping two tables. Where the views live in
PostgreSQL, `projections.lexical_postgres` offers the same functions over PostgreSQL full-text
search; `backend(views)` picks the module.

Queries are free text, never FTS5 syntax: each word becomes a quoted term, common English words
are left out (they match nearly every chunk, which costs time and ranks nothing), and the terms
are OR-ed so BM25 ranks chunks that match more and rarer terms first.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import aiosqlite
import msgspec

from events import Span
from projections.store import Views

if TYPE_CHECKING:
    from projections.store_postgres import PostgresViews

__all__ = [
    "LexicalHit",
    "LexicalRow",
    "backend",
    "delete_ids",
    "delete_sources",
    "drop_chapter",
    "drop_outdated",
    "ensure",
    "exists",
    "exists_within",
    "fts_query",
    "lookup_terms",
    "missing_chapters",
    "query_terms",
    "rare_terms",
    "rows_of",
    "search",
    "table_of",
    "words_of",
    "write_rows",
]

_CHAPTER = re.compile(r"^[0-9a-z]{1,64}$")
_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_TERMS = 32
"""Terms of a query kept (the first ones): a pasted page must not become a 1,000-term OR."""

_STOPWORDS_TEXT = """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me more
    most my no nor not of off on once only or other our out over own same she should so some such
    than that the their them then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
"""Words too common to rank by (their postings are most of the index)."""


class LexicalRow(msgspec.Struct, frozen=True, kw_only=True):
    """One chunk as the lexical index stores it."""

    id: str
    """The record id, `<source>:<chunk hash>` as in the vector index."""
    source: str
    source_name: str
    chunk: str
    span: Span
    text: str
    cite: str = ""
    """The source's "Author (Year)" (`SourceMeta.cite`), as its vector records carry it: a hit
    the lexical side alone found names its work without a look-up at search time."""


class LexicalHit(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk that matched, with its BM25 score (higher is better)."""

    row: LexicalRow
    score: float


def backend(views: Views | PostgresViews) -> ModuleType:
    """The module whose functions keep the lexical index in `views`: this one (SQLite FTS5) or
    `projections.lexical_postgres` (PostgreSQL full-text search), the same names and arguments."""
    if views.dialect == "postgresql":
        from projections import lexical_postgres  # imports psycopg: only where configured

        return lexical_postgres
    return sys.modules[__name__]


def table_of(chapter: str) -> str:
    """The row table's name of `chapter` (its FTS5 index is `<table>_fts`)."""
    if not _CHAPTER.match(chapter):
        raise ValueError(f"not a chapter id usable as a table name: {chapter!r}")
    return f"lexical_{chapter}"


def _ddl(table: str) -> list[str]:
    # External content: the FTS index holds only postings; the triggers keep it in step with the
    # row table, so writers touch one table and can never leave the two apart.
    return [
        f"""CREATE TABLE IF NOT EXISTS {table} (
            n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
            source_name TEXT NOT NULL, chunk TEXT NOT NULL, start INTEGER NOT NULL,
            "end" INTEGER NOT NULL, page INTEGER, heading TEXT, text TEXT NOT NULL,
            cite TEXT NOT NULL DEFAULT '')""",
        f"CREATE INDEX IF NOT EXISTS {table}_source ON {table} (source)",
        f"""CREATE VIRTUAL TABLE IF NOT EXISTS {table}_fts USING fts5(
            text, content='{table}', content_rowid='n',
            tokenize='porter unicode61 remove_diacritics 2')""",
        f"""CREATE TRIGGER IF NOT EXISTS {table}_ai AFTER INSERT ON {table} BEGIN
            INSERT INTO {table}_fts (rowid, text) VALUES (new.n, new.text); END""",
        f"""CREATE TRIGGER IF NOT EXISTS {table}_ad AFTER DELETE ON {table} BEGIN
            INSERT INTO {table}_fts ({table}_fts, rowid, text)
            VALUES ('delete', old.n, old.text); END""",
    ]


async def ensure(db: aiosqlite.Connection, chapter: str) -> str:
    """Create the chapter's index if it has none (inside the open transaction `db`); its table."""
    table = table_of(chapter)
    for statement in _ddl(table):
        await db.execute(statement)
    return table


async def exists(views: Views, chapter: str) -> bool:
    """Whether `chapter` has a lexical index (it may be empty)."""
    row = await views.fetchone(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table_of(chapter),)
    )
    return row is not None


async def exists_within(db: aiosqlite.Connection, chapter: str) -> bool:
    """`exists`, asked inside the open transaction `db`."""
    rows = await db.execute_fetchall(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table_of(chapter),)
    )
    return bool(list(rows))


async def missing_chapters(views: Views) -> int:
    """How many chapters the vectors projection folded that have no lexical index."""
    # One query for every chapter (not one per chapter): a table is `lexical_<chapter>`.
    row = await views.fetchone(
        "SELECT count(DISTINCT chapter) FROM vectors_sources WHERE 'lexical_' || chapter "
        "NOT IN (SELECT name FROM sqlite_master WHERE type = 'table')"
    )
    return int(row[0]) if row else 0


async def write_rows(db: aiosqlite.Connection, chapter: str, rows: Sequence[LexicalRow]) -> None:
    """Store `rows` inside the open transaction `db`, replacing rows with the same id (the
    index must exist: `ensure`)."""
    if not rows:
        return
    table = table_of(chapter)
    await db.executemany(f"DELETE FROM {table} WHERE id = ?", [(r.id,) for r in rows])
    await db.executemany(
        f"INSERT INTO {table} "
        '(id, source, source_name, chunk, start, "end", page, heading, text, cite) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (r.id, r.source, r.source_name, r.chunk, r.span.start, r.span.end, r.span.page,
             r.span.heading, r.text, r.cite)
            for r in rows
        ],
    )  # fmt: skip


async def delete_ids(db: aiosqlite.Connection, chapter: str, ids: Collection[str]) -> None:
    """Remove rows by record id; unknown ids are ignored (the index must exist: `ensure`)."""
    if ids:
        table = table_of(chapter)
        await db.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in ids])


async def delete_sources(db: aiosqlite.Connection, chapter: str, sources: Collection[str]) -> None:
    """Remove every row of these sources (the index must exist: `ensure`)."""
    if sources:
        table = table_of(chapter)
        await db.executemany(f"DELETE FROM {table} WHERE source = ?", [(s,) for s in sources])


async def drop_chapter(db: aiosqlite.Connection, chapter: str) -> None:
    """Remove the chapter's lexical index (tables and triggers go with the row table)."""
    table = table_of(chapter)
    await db.execute(f"DROP TABLE IF EXISTS {table}_fts")
    await db.execute(f"DROP TABLE IF EXISTS {table}")


def words_of(text: str) -> set[str]:
    """The lower-case words of `text`, as queries split them."""
    return set(_WORD.findall(text.lower()))


def query_terms(text: str) -> list[str]:
    """The words of free `text` a query searches for, in order, each once."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or word in terms:
            continue
        terms.append(word)
        if len(terms) == _MAX_TERMS:
            break
    return terms


def fts_query(terms: Sequence[str]) -> str | None:
    """The FTS5 query OR-ing `terms`, or None when there is none."""
    # Quoted, each term is a string to match, never an FTS5 operator or column filter.
    return " OR ".join(f'"{t}"' for t in terms) or None


COMMON_SHARE = 0.02
"""A query word in more than this share of a chapter's chunks (at 20,000 chunks or more) is left
out of the query when rarer words remain: BM25 gives it little weight, yet ranking its matches
is most of a query's time (a 100,000-chunk chapter: every chunk with "array"). When every word
is that common, the query asks for chunks holding all of them."""
_COMMON_FROM = 20_000
"""Below this size every word is kept: the quality bench (3,776 chunks) lost 0.034 nDCG@10 in
hybrid search (0.05 on paraphrases) with the rule applied, and small chapters are fast anyway."""


async def _pruned_query(views: Views, table: str, text: str) -> str | None:
    terms = query_terms(text)
    if len(terms) < 2:
        return fts_query(terms)
    total = await views.fetchone(f"SELECT max(n) FROM {table}")
    size = (total[0] or 0) if total else 0
    if size < _COMMON_FROM:
        return fts_query(terms)
    cap = int(COMMON_SHARE * size)
    kept = []
    for term in terms:
        # Counted no further than the cap: a common word costs no more than a rare one.
        row = await views.fetchone(
            f"SELECT count(*) FROM (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ? "
            "LIMIT ?)",
            (f'"{term}"', cap + 1),
        )
        if row and row[0] <= cap:
            kept.append(term)
    if kept:
        return fts_query(kept)
    # Every word is common: the chunks holding all of them, a small set that ranks fast.
    return " AND ".join(f'"{t}"' for t in terms)


async def search(
    views: Views,
    chapter: str,
    text: str,
    k: int,
    *,
    sources: Collection[str] | None = None,
) -> list[LexicalHit]:
    """The `k` best BM25 matches of `text` in `chapter`, best first.

    `sources` keeps only rows of these sources (None: all; empty: nothing): that is how a tag
    filter reaches this side, the caller knowing which sources carry the tags.
    """
    if (sources is not None and not sources) or k <= 0 or not await exists(views, chapter):
        return []
    table = table_of(chapter)
    query = await _pruned_query(views, table, text)
    if query is None:
        return []
    # The best k postings first, then their rows: joining every match to its row (and its text)
    # before the LIMIT costs a row read per match, which for a common word is most of the index.
    within = ""
    params: list[object] = [query]
    if sources is not None:
        within = (
            f" AND rowid IN (SELECT n FROM {table} WHERE source IN "
            "(SELECT value FROM json_each(?)))"
        )
        params.append(msgspec.json.encode(sorted(sources)).decode())
    params.append(k)
    sql = (
        f'SELECT d.id, d.source, d.source_name, d.chunk, d.start, d."end", d.page, d.heading, '
        f"d.text, d.cite, best.rank FROM (SELECT rowid, rank FROM {table}_fts WHERE {table}_fts MATCH ?"
        f"{within} ORDER BY rank LIMIT ?) AS best JOIN {table} d ON d.n = best.rowid "
        "ORDER BY best.rank, d.id"  # the id breaks ties, so rebuilds rank alike
    )
    rows = await views.fetchall(sql, params)
    return [
        LexicalHit(
            row=LexicalRow(
                id=r[0], source=r[1], source_name=r[2], chunk=r[3],
                span=Span(start=r[4], end=r[5], page=r[6], heading=r[7]), text=r[8],
                cite=r[9],
            ),
            score=-float(r[10]),  # FTS5's bm25() is lower-is-better
        )
        for r in rows
    ]  # fmt: skip


RARE_SHARE = 0.01
"""A term in at most this share of a chapter's chunks (and at most `RARE_MIN` of them, whichever
is more) is rare: a name, a code, a number."""
RARE_MIN = 3


_LOOKUP = re.compile(r"(?<=\S )[A-Z]\w*|\w*\d\w*|\w+_\w+")


def lookup_terms(text: str) -> set[str]:
    """The words of `text` shaped like what people look up: a capitalised word after the first
    (a name), a word with a digit (a code, a number) or an underscore (an identifier); lower
    case, as the index holds them."""
    return {w.lower() for m in _LOOKUP.findall(text) for w in _WORD.findall(m)} - STOPWORDS


async def rare_terms(views: Views, chapter: str, text: str) -> set[str]:
    """The lookup-shaped words of `text` (`lookup_terms`) that some chunk of `chapter`, but
    few, contains (see `RARE_SHARE`).

    Each is counted through the FTS index itself (so stemmed as the index stems), no further
    than the limit: a common word costs no more than a rare one.
    """
    terms = sorted(lookup_terms(text))[:8]
    if not terms or not await exists(views, chapter):
        return set()
    table = table_of(chapter)
    total = await views.fetchone(f"SELECT max(n) FROM {table}")
    limit = max(RARE_MIN, int(RARE_SHARE * ((total[0] or 0) if total else 0)))
    rare = set()
    for term in terms:
        row = await views.fetchone(
            f"SELECT count(*) FROM (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ? "
            "LIMIT ?)",
            (f'"{term}"', limit + 1),
        )
        if row and 0 < row[0] <= limit:
            rare.add(term)
    return rare


async def drop_outdated(db: aiosqlite.Connection) -> list[str]:
    """Drop every chapter's index made before rows carried `cite` (inside the open transaction
    `db`), in one query over the schema; the chapters, whose index the caller rebuilds as for
    a chapter that never had one."""
    rows = await db.execute_fetchall(
        "SELECT m.name FROM sqlite_master AS m WHERE m.type = 'table' AND m.name LIKE 'lexical_%' "
        "AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) AS c WHERE c.name = 'cite')"
    )
    # A chapter id has no `_`: the FTS5 shadow tables (`lexical_<chapter>_fts…`) are not indexes.
    chapters = [
        chapter for (name,) in rows if _CHAPTER.match(chapter := str(name).removeprefix("lexical_"))
    ]
    for chapter in chapters:
        await drop_chapter(db, chapter)
    return chapters


async def rows_of(views: Views, chapter: str) -> list[tuple[object, ...]]:
    """Every row of the chapter's index (id order), for digests and rebuild comparisons."""
    if not await exists(views, chapter):
        return []
    return await views.fetchall(
        f'SELECT id, source, source_name, chunk, start, "end", page, heading, text, cite '
        f"FROM {table_of(chapter)} ORDER BY id"
    )
