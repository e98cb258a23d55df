"""A guest's replica: a shared chapter's in-scope state in a local SQLite file (aiosqlite).

The state is the chapter's fold, by the server's own rules (`projections.fold`, pure): the
sources with their status, tags and names, each extracted source's text (searchable with FTS5,
no model needed), and, when the share includes them, the threads and messages. Beside it the
replica keeps what it synced: the owner's rev and chain head it stands at, each proxied batch
(tick) and each event applied, so `history` can say what came when.

Two ways in, one store:

- a proxied batch (`apply_batch`): compacted bodies, not the owner's events, so each batch is
  checked for what can be checked (the share and chapter it names, that it continues from the
  rev held here, a 64-hex head) and applied whole in one transaction with its (rev, head);
- direct events (`apply_events`): the owner's own envelopes, applied only after
  `events.chain.ChainCheck` has verified them against the head held here; a broken one is
  refused with its rev, and nothing from it on is applied. Their signed heads are checked too,
  and the first book key that signs one is pinned (trust on first use, `client.chain.KeyPin`):
  a later key is refused unless the book's key history shows a valid rotation chain to it.

Texts come in verified by the caller (client/follow.py checks each blob's BLAKE3 against its
name). A replica belongs to one share of one chapter: opening it for another is refused.

It is one module (about 490 lines): applying owner events, proxied batches and key pins, and
answering queries, all share the one SQLite store and its meta rows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiosqlite
import msgspec

from client.chain import KeyPin, check_heads
from client.replica_rows import (
    ChainBroken,
    HistoryRow,
    ReplicaError,
    ReplicaMismatch,
    SearchRow,
    TickRow,
    decode_bodies,
    event_type,
    summary,
    texts_needed,
)
from events import (
    ChapterCreated,
    ChapterMirrored,
    ChapterRenamed,
    Envelope,
    MessagePosted,
    RecordedEvent,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
)
from events.chain import ChainCheck
from events.envelope import Body
from events.keys import KeyHistory
from events.personal import is_sealable, open_sealed
from events.scopes import SOURCE_EVENTS, THREAD_EVENTS
from projections.fold import (
    SOURCE_CHANGES,
    MessageView,
    SourceView,
    ThreadView,
    message_posted,
    source_added,
    thread_started,
)
from rust_core import GENESIS

__all__ = [
    "DB_NAME",
    "ChainBroken",
    "HistoryRow",
    "Replica",
    "ReplicaError",
    "ReplicaMismatch",
    "SearchRow",
    "TickRow",
    "decode_bodies",
    "texts_needed",
]

DB_NAME = "replica.db"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (id TEXT PRIMARY KEY, position INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS threads (id TEXT PRIMARY KEY, position INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, position INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ticks (
    seq INTEGER PRIMARY KEY, after INTEGER NOT NULL, rev INTEGER NOT NULL, head TEXT NOT NULL,
    snapshot INTEGER NOT NULL, events INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY, rev INTEGER NOT NULL, type TEXT NOT NULL, summary TEXT NOT NULL,
    actor TEXT NOT NULL, at INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5(source UNINDEXED, name, text);
"""


_source = msgspec.json.Decoder(SourceView)
_thread = msgspec.json.Decoder(ThreadView)
_encode = msgspec.json.encode


class Replica:
    """One shared chapter's replica in `DIR/replica.db`. Use `await Replica.open(dir)`, then
    `bind` before applying anything; `close()` (or `async with`) at the end."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self.meta: dict[str, str] = {}

    @classmethod
    async def open(cls, directory: Path) -> Replica:
        """Open (or create) the replica in `directory`."""
        directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start
        path = directory / DB_NAME
        db = await aiosqlite.connect(path)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.executescript(_SCHEMA)
            await db.commit()
            replica = cls(db, path)
            async with db.execute("SELECT key, value FROM meta") as rows:
                replica.meta = {k: v async for k, v in rows}
        except BaseException:
            await db.close()
            raise
        return replica

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Replica:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- what it follows and where it stands ---

    @property
    def bound(self) -> bool:
        return "chapter" in self.meta

    @property
    def chapter(self) -> str:
        return self.meta.get("chapter", "")

    @property
    def share(self) -> str:
        return self.meta.get("share", "")

    @property
    def rev(self) -> int:
        """The owner's rev this replica stands at (0: nothing synced yet)."""
        return int(self.meta.get("rev", "0"))

    @property
    def head(self) -> str:
        """The owner's chain hash at `rev`, hex ("" before the first sync)."""
        return self.meta.get("head", "")

    @property
    def scope(self) -> list[str]:
        return [s for s in self.meta.get("scope", "").split(",") if s]

    async def bind(
        self, *, share: str, chapter: str, mode: str, title: str, server: str, scope: Sequence[str]
    ) -> None:
        """Make this replica the one of `share` of `chapter`, or check that it is: a replica
        made for another share or chapter is refused (`ReplicaMismatch`), untouched."""
        if self.bound:
            if self.chapter != chapter or self.share != share:
                raise ReplicaMismatch(
                    f"the replica in {self.path.parent} follows chapter {self.chapter} "
                    f"(share {self.share}), not chapter {chapter} (share {share}): "
                    "use another --dir for this share"
                )
            await self._set({"title": title, "server": server, "scope": ",".join(scope)})
            await self.db.commit()
            return
        await self._set(
            {"share": share, "chapter": chapter, "mode": mode, "title": title, "server": server,
             "scope": ",".join(scope), "rev": "0", "head": ""}
        )  # fmt: skip
        await self.db.commit()

    async def _set(self, values: Mapping[str, str]) -> None:
        await self.db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )
        self.meta.update(values)

    def _in_scope(self, body: Body) -> bool:
        if isinstance(body, SOURCE_EVENTS):
            return "sources" in self.scope or "notes" in self.scope or not self.scope
        if isinstance(body, THREAD_EVENTS):
            return "threads" in self.scope
        return False

    # --- proxied batches ---

    def check_batch(self, *, share: str, chapter: str, after: int, rev: int, head: str,
                    snapshot: bool) -> None:  # fmt: skip
        """Refuse (`ReplicaError`) a batch that is not for this replica or does not continue
        from where it stands; nothing is changed."""
        if share != self.share or chapter != self.chapter:
            raise ReplicaMismatch(
                f"the feed sent a batch of chapter {chapter} (share {share}); this replica "
                f"follows chapter {self.chapter} (share {self.share})"
            )
        if not _HEX64.match(head):
            raise ReplicaError(f"the batch's head {head!r} is not a 64-hex chain hash")
        if not snapshot and after != self.rev:
            raise ReplicaError(
                f"the batch continues from rev {after}, but this replica stands at rev {self.rev}"
            )
        if rev < after or (not snapshot and rev < self.rev):
            raise ReplicaError(f"the batch goes back, from rev {after} to rev {rev}")
        if rev == self.rev and self.head and head != self.head:
            raise ReplicaError(
                f"the batch names head {head} at rev {rev}, where this replica holds {self.head}: "
                "the owner's log is not the one it followed"
            )

    async def apply_batch(
        self,
        *,
        after: int,
        rev: int,
        head: str,
        snapshot: bool,
        bodies: Sequence[Body],
        texts: Mapping[str, str],
        share: str | None = None,
        chapter: str | None = None,
        personal: Mapping[str, bytes | None] | None = None,
    ) -> int:
        """Apply one proxied batch whole (its events, then its rev and head) in one
        transaction; how many events were applied. `texts` holds every text `texts_needed`
        names, verified by the caller."""
        self.check_batch(
            share=self.share if share is None else share,
            chapter=self.chapter if chapter is None else chapter,
            after=after, rev=rev, head=head, snapshot=snapshot,
        )  # fmt: skip
        missing = [t for t in texts_needed(bodies) if t not in texts]
        if missing:
            raise ReplicaError(f"the batch's text {missing[0]} was not fetched")
        now = int(time.time() * 1000)
        try:
            if snapshot:
                for table in ("sources", "threads", "messages", "texts"):
                    await self.db.execute(f"DELETE FROM {table}")
            applied = 0
            for body in bodies:
                envelope = Envelope(
                    id="", chapter=self.chapter, rev=rev, at=now, actor=f"share:{self.share}",
                    body=body,
                )  # fmt: skip
                applied += await self._apply(envelope, texts, personal=personal)
            await self.db.execute(
                "INSERT INTO ticks (after, rev, head, snapshot, events, at) VALUES (?,?,?,?,?,?)",
                (after, rev, head, int(snapshot), len(bodies), now),
            )
            await self._set({"rev": str(rev), "head": head})
            await self.db.commit()
        except BaseException:
            await self.db.rollback()
            self.meta["rev"], self.meta["head"] = await self._stored_position()
            raise
        return applied

    async def _stored_position(self) -> tuple[str, str]:
        async with self.db.execute(
            "SELECT key, value FROM meta WHERE key IN ('rev', 'head')"
        ) as rows:
            stored = {k: v async for k, v in rows}
        return stored.get("rev", "0"), stored.get("head", "")

    # --- direct events ---

    @property
    def pinned_key(self) -> str:
        """The book key trusted on first use: the first that signed a head here ("" before)."""
        return self.meta.get("pinned_key", "")

    async def apply_events(
        self,
        events: Sequence[RecordedEvent],
        texts: Mapping[str, str],
        *,
        keys: KeyHistory | None = None,
        personal: Mapping[str, bytes | None] | None = None,
    ) -> int:
        """Verify the owner's next events against the chain held here, and their signed heads
        against the key pinned here (`keys`, the book's key history, lets a rotated key in), then
        apply them; the verified prefix is applied even when a later one fails, and then
        `ChainBroken` says where. Events at or below the rev held here are skipped (a repeat)."""
        fresh = [e for e in events if e.rev > self.rev]
        if not fresh:
            return 0
        prev = bytes.fromhex(self.head) if self.head else GENESIS
        check = ChainCheck(self.chapter, prev=prev, start_rev=self.rev + 1)
        check.feed_events(fresh)
        good = fresh[: check.verified]
        bad_rev, reason = check.bad_rev, check.reason
        pin = KeyPin(self.pinned_key or None)
        refused = check_heads(self.chapter, good, prev, pin, keys)
        if refused is not None:
            good, bad_rev, reason = good[: refused[0]], refused[1], refused[2]
        if pin.pinned and not self.pinned_key:
            self.meta["pinned_key"] = pin.pinned  # stored with the events' position
        try:
            for event in good:
                envelope = event.envelope
                await self._apply(envelope, texts, owner_event=True, personal=personal)
            if good:
                await self._set({"rev": str(good[-1].rev), "head": good[-1].hash.hex()})
            if self.pinned_key:
                await self._set({"pinned_key": self.pinned_key})
            await self.db.commit()
        except BaseException:
            await self.db.rollback()
            self.meta["rev"], self.meta["head"] = await self._stored_position()
            raise
        if bad_rev is not None:
            raise ChainBroken(bad_rev, reason or "does not verify")
        return len(good)

    # --- the fold, over stored records ---

    async def _apply(
        self,
        e: Envelope,
        texts: Mapping[str, str],
        *,
        owner_event: bool = False,
        personal: Mapping[str, bytes | None] | None = None,
    ) -> int:
        sealed = getattr(e.body, "sealed", None)
        if sealed is not None and personal is not None and is_sealable(e.body):
            # Personal fields travel in personal blobs (docs/log-format.md, "Erasure"); the one
            # fetched is checked against its name by the caller, a missing one reads as erased.
            e = msgspec.structs.replace(e, body=open_sealed(e.body, personal.get(sealed)))  # type: ignore[arg-type]
        body = e.body
        renamed = isinstance(body, ChapterCreated | ChapterMirrored | ChapterRenamed)
        if owner_event and renamed:
            await self._set({"title": body.title})
        if not self._in_scope(body) and not renamed:
            return 0  # out of the share's scope: neither state nor history here
        await self.db.execute(
            "INSERT INTO history (rev, type, summary, actor, at) VALUES (?,?,?,?,?)",
            (e.rev, event_type(body), summary(body), e.actor, e.at),
        )
        match body:
            case SourceAdded():
                view = source_added(e, body)
                await self.db.execute("DELETE FROM texts WHERE source = ?", (body.source,))
                await self._put("sources", view.id, _encode(view), moved=True)
            case (
                SourceExtracted()
                | SourceRejected()
                | SourceEdited()
                | SourceRetagged()
                | (SourceRemoved())
            ):
                prev = await self._load_source(body.source)
                changed = SOURCE_CHANGES[type(body)](prev, e, body)
                if changed is None:
                    return 1
                await self._put("sources", changed.id, _encode(changed))
                if isinstance(body, SourceExtracted):
                    await self._text(changed, texts[body.text_blob])
                elif isinstance(body, SourceEdited):
                    await self._text(changed, texts[body.new_text])
                elif isinstance(body, SourceRemoved):
                    await self.db.execute("DELETE FROM texts WHERE source = ?", (body.source,))
            case ThreadStarted():
                thread = thread_started(await self._load_thread(body.thread), e, body)
                await self._put("threads", thread.id, _encode(thread))
            case MessagePosted():
                seen = await self._exists("messages", body.message)
                thread, message = message_posted(
                    await self._load_thread(body.thread), e, body, seen=seen
                )
                await self._put("threads", thread.id, _encode(thread))
                if message is not None:
                    await self._put("messages", message.id, _encode(message))
        return 1

    async def _text(self, source: SourceView, text: str) -> None:
        await self.db.execute("DELETE FROM texts WHERE source = ?", (source.id,))
        await self.db.execute(
            "INSERT INTO texts (source, name, text) VALUES (?, ?, ?)",
            (source.id, source.name, text),
        )

    async def _put(self, table: str, key: str, data: bytes, *, moved: bool = False) -> None:
        # `position` keeps the fold's order: first appearance, or the end for a re-added source.
        if moved:
            await self.db.execute(f"DELETE FROM {table} WHERE id = ?", (key,))
        await self.db.execute(
            f"INSERT INTO {table} (id, position, data) "
            f"VALUES (?, (SELECT COALESCE(MAX(position), 0) + 1 FROM {table}), ?) "
            "ON CONFLICT(id) DO UPDATE SET data = excluded.data",
            (key, data),
        )

    async def _row(self, table: str, key: str) -> bytes | None:
        async with self.db.execute(
            f"SELECT data FROM {table} WHERE id = ?",
            (key,),
        ) as rows:
            row = await rows.fetchone()
        return None if row is None else row[0]

    async def _exists(self, table: str, key: str) -> bool:
        return await self._row(table, key) is not None

    async def _load_source(self, source: str) -> SourceView | None:
        data = await self._row("sources", source)
        return None if data is None else _source.decode(data)

    async def _load_thread(self, thread: str) -> ThreadView | None:
        data = await self._row("threads", thread)
        return None if data is None else _thread.decode(data)

    # --- queries ---

    async def sources(self, *, removed: bool = False) -> list[SourceView]:
        """The sources in the fold's order (removed ones only when asked for)."""
        async with self.db.execute("SELECT data FROM sources ORDER BY position") as rows:
            found = [_source.decode(row[0]) async for row in rows]
        return found if removed else [s for s in found if s.status != "removed"]

    async def text(self, source: str) -> str | None:
        """A source's text, if the replica holds it."""
        async with self.db.execute("SELECT text FROM texts WHERE source = ?", (source,)) as rows:
            row = await rows.fetchone()
        return None if row is None else row[0]

    async def threads(self) -> list[ThreadView]:
        async with self.db.execute("SELECT data FROM threads ORDER BY position") as rows:
            return [_thread.decode(row[0]) async for row in rows]

    async def messages(self) -> list[MessageView]:
        decoder = msgspec.json.Decoder(MessageView)
        async with self.db.execute("SELECT data FROM messages ORDER BY position") as rows:
            return [decoder.decode(row[0]) async for row in rows]

    async def search(self, query: str, *, limit: int = 10) -> list[SearchRow]:
        """Sources whose text (or name) holds every word of `query` (FTS5, best first)."""
        words = query.split()
        if not words:
            return []
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        async with self.db.execute(
            "SELECT source, name, snippet(texts, 2, '[', ']', '…', 16), bm25(texts) "
            "FROM texts WHERE texts MATCH ? ORDER BY bm25(texts) LIMIT ?",
            (match, limit),
        ) as rows:
            return [SearchRow(source=r[0], name=r[1], snippet=r[2], score=r[3]) async for r in rows]

    async def history(self, *, limit: int | None = None) -> list[HistoryRow]:
        """The events applied here, oldest first (the last `limit` of them)."""
        sql = "SELECT seq, rev, type, summary, actor, at FROM history ORDER BY seq DESC"
        params: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        async with self.db.execute(sql, params) as rows:
            found = [
                HistoryRow(seq=r[0], rev=r[1], type=r[2], summary=r[3], actor=r[4], at=r[5])
                async for r in rows
            ]
        return found[::-1]

    async def ticks(self) -> list[TickRow]:
        """The proxied batches applied, oldest first."""
        async with self.db.execute(
            "SELECT after, rev, head, snapshot, events, at FROM ticks ORDER BY seq"
        ) as rows:
            return [
                TickRow(after=r[0], rev=r[1], head=r[2], snapshot=bool(r[3]), events=r[4], at=r[5])
                async for r in rows
            ]
