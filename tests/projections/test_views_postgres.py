"""The read models in PostgreSQL: two processes folding one chapter (a stale batch is refused and
nothing is applied twice; the Merkle tree grown by one of them only), schema migrations (an older schema upgraded, a newer one refused,
concurrent opens), clear errors, the lexical index's exact terms and source filters (on both
backends), the shared embedding cache and the VACUUM after an erasure."""

import asyncio
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql

import rust_core
from engine.errors import ChainBroken
from events import ChapterRenamed, Envelope, Span, new_id
from projections import lexical
from projections.base import SqliteProjection, handles
from projections.chat import TABLES as CHAT_TABLES
from projections.chat_postgres import PostgresChatView
from projections.embedding_cache_postgres import PostgresEmbeddingCache
from projections.store import CheckpointMoved, open_views
from projections.store_postgres import (
    MIGRATIONS,
    PostgresViews,
    ViewsConfigError,
    ViewsUnavailable,
    migrate,
)
from projections.tree import Trees
from tests.projections.pipeline_support import BACKENDS
from tests.projections.test_tree import recorded
from tests.requirements import PostgresSchema, PostgresServer


class Renames(SqliteProjection):
    """Logs each rename it folds as a row of its own: a batch applied twice shows twice. (No row
    is shared between batches, so no row lock orders two processes' transactions: only the
    checkpoint's fencing does.)"""

    name = "renames"
    version = 1

    @handles(ChapterRenamed)
    async def on_renamed(self, db, e: Envelope, body: ChapterRenamed) -> None:
        await self.execute(db, "INSERT INTO renames (chapter, rev) VALUES (?, ?)", e.chapter, e.rev)


def renames(chapter: str, revs: range) -> list[Envelope]:
    return [
        Envelope(
            id=new_id(), chapter=chapter, rev=rev, at=0, actor="u",
            body=ChapterRenamed(title=f"title {rev}"),
        )
        for rev in revs
    ]  # fmt: skip


@pytest.fixture
async def two_processes(pg_schema: PostgresSchema) -> AsyncIterator[list[PostgresViews]]:
    """Two views objects on one schema, each with its own pool: two processes' worth."""
    opened = [await PostgresViews.open(pg_schema.url, schema=pg_schema.name) for _ in range(2)]
    await opened[0].script("CREATE TABLE renames (chapter TEXT NOT NULL, rev BIGINT NOT NULL)")
    yield opened
    for views in opened:
        await views.close()


async def count(views: PostgresViews, chapter: str) -> int:
    row = await views.fetchone("SELECT count(*) FROM renames WHERE chapter = ?", (chapter,))
    return row[0] if row else 0


async def test_two_processes_folding_one_chapter_apply_each_batch_once(two_processes):
    a, b = (Renames(views) for views in two_processes)
    chapter = "c-fenced"
    first, second = renames(chapter, range(1, 4)), renames(chapter, range(4, 6))
    # At once: one commits, the other waits for it, then finds the checkpoint moved.
    outcomes = await asyncio.gather(
        a.apply(chapter, first), b.apply(chapter, first), return_exceptions=True
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["CheckpointMoved", "NoneType"]
    assert await count(two_processes[0], chapter) == 3
    # Late: a batch that folded on from rev 0 is refused whole, its writes rolled back.
    for late in (a, b):
        with pytest.raises(CheckpointMoved, match="at rev 3, not 0"):
            await late.apply(chapter, first)
    assert await count(two_processes[1], chapter) == 3
    # Either process goes on from the stored checkpoint.
    await b.apply(chapter, second)
    assert await a.load_checkpoint(chapter) == (5, 1)
    assert await count(two_processes[0], chapter) == 5


async def test_many_concurrent_batches_of_many_chapters_are_each_applied_once(two_processes):
    a, b = (Renames(views) for views in two_processes)
    chapters = [f"c-{n}" for n in range(6)]
    batches = {c: renames(c, range(1, 5)) for c in chapters}
    outcomes = await asyncio.gather(
        *(p.apply(c, batches[c]) for c in chapters for p in (a, b)), return_exceptions=True
    )
    assert [o for o in outcomes if not isinstance(o, CheckpointMoved | None)] == []
    assert sum(isinstance(o, CheckpointMoved) for o in outcomes) == len(chapters)
    for chapter in chapters:
        assert await count(two_processes[1], chapter) == 4


def _admin(server: PostgresServer, schema: str) -> psycopg.Connection:
    conn = psycopg.connect(server.url, autocommit=True)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return conn


async def test_an_older_schema_is_upgraded_when_opened_and_keeps_its_rows(
    postgres: PostgresServer, pg_schema: PostgresSchema
):
    # What the first release made: step 1 only, with a row in it.
    async with await psycopg.AsyncConnection.connect(
        pg_schema.url, options=f"-c search_path={pg_schema.name}"
    ) as conn:
        async with conn.transaction():
            await migrate(conn, "test", MIGRATIONS[:1])
        await conn.execute("INSERT INTO checkpoints VALUES ('catalogue', 'c-old', 7, 1)")
    views = await PostgresViews.open(pg_schema.url, schema=pg_schema.name)
    try:
        assert await views.fetchall("SELECT version FROM views_schema_version") == [
            (len(MIGRATIONS),)
        ]
        assert await views.fetchone("SELECT rev FROM checkpoints WHERE chapter = 'c-old'") == (7,)
        index = lexical.backend(views)
        async with views.transaction() as db:  # step 2's tables are there
            await index.ensure(db, "cold")
        assert await index.exists(views, "cold")
        assert await PostgresEmbeddingCache(views).get_many("m", ["x"]) == {}  # step 3's
    finally:
        await views.close()


async def test_a_schema_newer_than_this_release_is_refused(
    postgres: PostgresServer, pg_schema: PostgresSchema
):
    views = await PostgresViews.open(pg_schema.url, schema=pg_schema.name)
    await views.close()
    with _admin(postgres, pg_schema.name) as admin:
        admin.execute("UPDATE views_schema_version SET version = 99")
    with pytest.raises(ViewsUnavailable, match=r"schema version 99, newer.*upgrade RagStack"):
        await PostgresViews.open(pg_schema.url, schema=pg_schema.name)


async def test_processes_opening_a_fresh_schema_at_once_migrate_it_once(
    postgres: PostgresServer, pg_schema: PostgresSchema
):
    opened = await asyncio.gather(
        *(PostgresViews.open(pg_schema.url, schema=pg_schema.name) for _ in range(4))
    )
    try:
        rows = await opened[0].fetchall("SELECT version FROM views_schema_version")
        assert rows == [(len(MIGRATIONS),)]
    finally:
        for views in opened:
            await views.close()


async def test_a_wrong_address_names_the_database_and_never_the_password(
    postgres: PostgresServer, tmp_path
):
    url = postgres.through("127.0.0.1", 1).replace("@", ":hunter2@", 1)  # a closed port
    assert "hunter2" in url
    start = time.monotonic()
    with pytest.raises(ViewsUnavailable) as raised:
        await open_views(url, tmp_path / "unused.sqlite3")
    assert "127.0.0.1:1/" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert time.monotonic() - start < 15
    missing = postgres.with_database("ragstack_no_such_database")
    with pytest.raises(ViewsUnavailable, match="ragstack_no_such_database"):
        await open_views(missing, tmp_path / "unused.sqlite3")
    with pytest.raises(ViewsConfigError, match="unsupported views URL scheme 'mysql'"):
        await open_views("mysql://db/views", tmp_path / "unused.sqlite3")
    assert not (tmp_path / "unused.sqlite3").exists()


NOTES = {
    "s1": "Fault code E-4021 cleared after Okonkwo replaced the valve.",
    "s2": "Fault code E-4022 logged; part PN-7100-A swapped by Vasquez in 1987.",
    "s3": "The pump ran quietly all night and the pressure held at 3.5 bar.",
    **{
        f"f{n}": f"Fault code routine check {n}: the valve and the pump were fine."
        for n in range(8)
    },
}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_lexical_index_finds_exact_terms_and_honours_a_source_filter(views, backend):
    assert views.dialect == backend
    index = lexical.backend(views)
    chapter = "cnotes"
    rows = [
        lexical.LexicalRow(
            id=f"{source}:h", source=source, source_name=f"{source}.txt", chunk="h",
            span=Span(start=0, end=len(text)), text=text,
        )
        for source, text in NOTES.items()
    ]  # fmt: skip
    async with views.transaction() as db:
        await index.ensure(db, chapter)
        await index.write_rows(db, chapter, rows)
    lookups = {
        "E-4021": "s1", "4022": "s2", "What did Okonkwo do?": "s1", "vasquez": "s2",
        "1987": "s2", "PN-7100-A": "s2", "part 7100": "s2", "3.5 bar": "s3",
    }  # fmt: skip
    for query, source in lookups.items():
        found = await index.search(views, chapter, query, 3)
        assert found and found[0].row.source == source, (query, [h.row.source for h in found])
        assert found[0].score > 0
    # A tag filter arrives as the sources carrying the tags: nothing else comes through.
    found = await index.search(views, chapter, "E-4021 Okonkwo valve", 10, sources=["s2", "f1"])
    assert {h.row.source for h in found} == {"s2", "f1"}
    assert await index.search(views, chapter, "Okonkwo", 10, sources=["s3"]) == []
    assert await index.search(views, chapter, "Okonkwo", 10, sources=[]) == []
    assert await index.rare_terms(views, chapter, "Was it Okonkwo or Valve?") == {"okonkwo"}
    # Replacing and deleting rows, then dropping the chapter.
    async with views.transaction() as db:
        await index.write_rows(
            db, chapter, [lexical.LexicalRow(**{**_fields(rows[0]), "text": "Now Lindqvist."})]
        )
        await index.delete_sources(db, chapter, ["s2"])
    assert await index.search(views, chapter, "Okonkwo", 3) == []
    assert [h.row.source for h in await index.search(views, chapter, "Lindqvist", 3)] == ["s1"]
    assert await index.search(views, chapter, "Vasquez", 3) == []
    assert len(await index.rows_of(views, chapter)) == len(NOTES) - 1
    async with views.transaction() as db:
        await index.drop_chapter(db, chapter)
    assert not await index.exists(views, chapter)
    assert await index.search(views, chapter, "Lindqvist", 3) == []


def _fields(row: lexical.LexicalRow) -> dict:
    return {f: getattr(row, f) for f in row.__struct_fields__}


async def test_the_embedding_cache_is_shared_by_processes_and_forgets(two_processes):
    a, b = (PostgresEmbeddingCache(views) for views in two_processes)
    await a.put_many("m1", {"c1": [0.5, -1.0], "c2": [2.0, 0.25]})
    await b.put_many("m1", {"c1": [9.0, 9.0]})  # an existing entry is kept
    await b.put_many("m2", {"c1": [1.0, 1.0]})
    assert await b.get_many("m1", ["c1", "c2", "c3"]) == {"c1": [0.5, -1.0], "c2": [2.0, 0.25]}
    await b.forget(["c1"])
    assert await a.get_many("m1", ["c1", "c2"]) == {"c2": [2.0, 0.25]}
    assert await a.get_many("m2", ["c1"]) == {}


async def test_after_an_erasure_the_touched_tables_are_vacuumed(
    postgres: PostgresServer, pg_schema: PostgresSchema
):
    views = await PostgresViews.open(pg_schema.url, schema=pg_schema.name)
    await views.truncate_wal()  # no chat view's tables here yet: the others are vacuumed
    chat = await PostgresChatView.open(pg_schema.url, schema=pg_schema.name)
    try:
        await views.truncate_wal()
    finally:
        await chat.close()
        await views.close()
    wanted = ("lexical_rows", "catalogue_sources", "embeddings", "vectors_sources", *CHAT_TABLES)
    with _admin(postgres, pg_schema.name) as admin:
        deadline = time.monotonic() + 5
        while True:  # statistics reach other sessions within a second or so
            admin.execute("SELECT pg_stat_clear_snapshot()")
            vacuumed = admin.execute(
                "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = %s "
                "AND last_vacuum IS NOT NULL AND relname = ANY(%s)",
                (pg_schema.name, list(wanted)),
            ).fetchone()
            if vacuumed == (len(wanted),) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert vacuumed == (len(wanted),)


async def test_two_processes_growing_one_tree_at_once_do_not_both_commit(two_processes):
    a, b = (Trees(views) for views in two_processes)
    events = recorded(300)
    outcomes = await asyncio.gather(
        a.apply_recorded("c-tree", events[:300]),
        b.apply_recorded("c-tree", events[:100]),
        return_exceptions=True,
    )
    # The second to take the chapter's lock finds the tree grown and refuses its batch.
    assert sorted(type(o).__name__ for o in outcomes) == ["ChainBroken", "NoneType"]
    assert any(isinstance(o, ChainBroken) for o in outcomes)
    size = await a.size("c-tree")
    assert size in (100, 300)
    leaves = [e.hash for e in events[:size]]
    assert await b.root("c-tree", size) == rust_core.merkle_root(leaves)
    assert (await a.inclusion("c-tree", size // 2, size)).verify()
