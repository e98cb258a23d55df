"""The chat view: threads and messages of each chapter, for listing and paging.

The read model is the same on SQLite (`ChatView`, in the views database, the default) and on
PostgreSQL (`projections.chat_postgres.PostgresChatView`, for deployments). Both run the SQL and
the row shaping of this module, so that one set of events gives byte-for-byte the same rows, and
the same `digest`, on either.

Folding drives the chapter fold's rules (`projections.fold`): a batch loads the rows of the
threads it touches and which of its message ids are stored already, applies `thread_started` and
`message_posted` in memory, and writes the touched threads back (upserts) and the new messages. It
is idempotent at two levels: `apply` skips events at or below the stored checkpoint (so an old
batch delivered again cannot roll the view or its checkpoint back), and a message id already
stored is never counted again.

It is one module (about 415 lines) because the DDL, the fold and the row shaping must be the
same for both backends; chat_postgres.py holds only what PostgreSQL does differently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

import rust_core
from events import Citation, Envelope, MessagePosted, ThreadStarted, TokenUsage
from projections.base import SqliteProjection
from projections.fold import MessageView, ThreadView, message_posted, thread_started
from projections.store import Views

if TYPE_CHECKING:  # chat_postgres imports this module; the factory imports it lazily
    from projections.chat_postgres import PostgresChatView

__all__ = [
    "CHAT_VERSION",
    "MAX_PAGE",
    "ChatInputError",
    "ChatView",
    "ChatViewConfigError",
    "ChatViewError",
    "ChatViewUnavailable",
    "CitationView",
    "InvalidChatQuery",
    "MessageView",
    "ThreadView",
    "UsageView",
    "open_chat_view",
]

CHAT_VERSION = 1
"""Version of the chat read model on every backend; bumping it rebuilds the view from rev 1."""

MAX_PAGE = 1000
"""The largest `limit` a read accepts."""

_INT64 = 2**63 - 1


# -- errors ----------------------------------------------------------------------------------


class ChatViewError(Exception):
    """Base of the chat view's errors."""


class ChatViewConfigError(ChatViewError, ValueError):
    """The chat view's configuration (URL, schema name) is unusable."""


class ChatViewUnavailable(ChatViewError):
    """The database behind the chat view cannot be reached or used."""


class ChatInputError(ChatViewError, ValueError):
    """`apply` was given events it must not fold (another chapter's, out of order, out of range)."""


class InvalidChatQuery(ChatViewError, ValueError):
    """A read was asked with arguments out of range."""


# -- the public shapes: the chapter fold's records, the events' citation and usage ----------

CitationView = Citation
"""The old name of a message's citation: the event's `Citation` itself."""
UsageView = TokenUsage
"""The old name of a message's usage: the event's `TokenUsage` itself."""


# -- the schema ------------------------------------------------------------------------------

_DDL = """
CREATE TABLE IF NOT EXISTS chat_threads (
    chapter {key} NOT NULL, thread {key} NOT NULL, title TEXT NOT NULL, actor TEXT NOT NULL,
    created_rev BIGINT NOT NULL, created_at BIGINT NOT NULL, message_count BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (chapter, thread)
);
CREATE TABLE IF NOT EXISTS chat_messages (
    chapter {key} NOT NULL, thread {key} NOT NULL, message {key} NOT NULL, rev BIGINT NOT NULL,
    at BIGINT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL, text TEXT NOT NULL,
    citations TEXT NOT NULL, answered_at_rev BIGINT, model TEXT, usage TEXT,
    PRIMARY KEY (chapter, message)
);
CREATE INDEX IF NOT EXISTS chat_messages_by_thread ON chat_messages (chapter, thread, rev);
"""


def schema_sql(key_type: str) -> str:
    """The DDL with `key_type` for id columns: both dialects read it.

    PostgreSQL passes `TEXT COLLATE "C"` so that ids compare by code point, as SQLite's default
    does: paging cursors and the digest's row order must not depend on the server's locale.
    """
    return _DDL.format(key=key_type)


TABLES = ("chat_threads", "chat_messages")
"""The tables keyed by chapter that a reset clears."""


# -- folding: the statements each event becomes -----------------------------------------------

Statement = tuple[str, tuple[Any, ...]]
"""SQL with `?` placeholders (PostgreSQL converts them) and its parameters."""


def _clean(value: Any) -> Any:
    # PostgreSQL's TEXT cannot hold NUL; both backends store U+FFFD instead so their rows agree.
    # The view is for display: the log keeps the exact text.
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def params(*values: Any) -> tuple[Any, ...]:
    """Statement parameters with every string made storable (see `_clean`)."""
    return tuple(_clean(v) for v in values)


def _int64(what: str, value: int) -> int:
    if not -_INT64 - 1 <= value <= _INT64:
        raise ChatInputError(f"{what} {value} does not fit in a 64-bit column")
    return value


_json = msgspec.json.Encoder()
_IN_CHUNK = 500
"""Ids per `IN (…)` list, well under every SQLite build's limit on parameters."""

Query = Callable[[str, tuple[Any, ...]], Awaitable[Sequence[Sequence[Any]]]]
"""Runs a `?`-style read inside the caller's transaction and returns its rows."""

_UPSERT_THREAD = (
    "INSERT INTO chat_threads (chapter, thread, title, actor, created_rev, created_at, "
    "message_count, last_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (chapter, thread) DO UPDATE SET title = excluded.title, "
    "actor = excluded.actor, created_rev = excluded.created_rev, "
    "created_at = excluded.created_at, message_count = excluded.message_count, "
    "last_at = excluded.last_at"
)
# Only messages the batch found new come here: a duplicate would be a bug, so it fails loudly.
_INSERT_MESSAGE = (
    "INSERT INTO chat_messages (chapter, thread, message, rev, at, actor, role, text, "
    "citations, answered_at_rev, model, usage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _thread_row(chapter: str, t: ThreadView) -> tuple[Any, ...]:
    return params(
        chapter, t.id, t.title, t.actor, t.created_rev, t.created_at, t.message_count, t.last_at
    )


def _message_row(chapter: str, m: MessageView) -> tuple[Any, ...]:
    answered = m.answered_at_rev
    return params(
        chapter, m.thread, m.id, m.rev, m.at, m.actor, m.role, m.text,
        _json.encode(m.citations).decode(),
        None if answered is None else _int64("answered_at_rev", answered),
        m.model, None if m.usage is None else _json.encode(m.usage).decode(),
    )  # fmt: skip


async def _select_in(query: Query, sql: str, chapter: str, ids: set[str]) -> list[Sequence[Any]]:
    """Rows of `sql` (which ends in `IN`) for `chapter` and `ids`, a chunk of ids per query."""
    ordered: list[str] = sorted(ids)
    rows: list[Sequence[Any]] = []
    for i in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[i : i + _IN_CHUNK]
        rows.extend(await query(f"{sql} ({', '.join('?' * len(chunk))})", params(chapter, *chunk)))
    return rows


def _chat_events(todo: Sequence[Envelope]) -> list[tuple[Envelope, ThreadStarted | MessagePosted]]:
    found: list[tuple[Envelope, ThreadStarted | MessagePosted]] = []
    for e in todo:
        body = e.body
        if isinstance(body, MessagePosted) and body.role not in ("user", "assistant"):
            raise ChatInputError(
                f"rev {e.rev}: message role {body.role!r} is not user or assistant"
            )
        if isinstance(body, ThreadStarted | MessagePosted):
            found.append((e, body))
    return found


async def fold_batch(
    query: Query, chapter: str, events: Sequence[Envelope], done: int
) -> tuple[list[Statement], int | None]:
    """The writes that fold the events past `done`, and the last rev folded (None: none new).

    Both backends run this inside their transaction, `query` reading through it; a bad event
    raises `ChatInputError` before anything is written.
    """
    todo = list(pending(chapter, events, done))
    chat = _chat_events(todo)
    # Ids are compared as stored (see `_clean`), as the statements' WHERE clauses would.
    touched = {_clean(body.thread) for _, body in chat}
    threads = {
        row[0]: _thread_view(row)
        for row in await _select_in(
            query, f"SELECT {_THREAD_COLUMNS} FROM chat_threads WHERE chapter = ? AND thread IN",
            chapter, touched,
        )
    }  # fmt: skip
    seen = {
        row[0]
        for row in await _select_in(
            query, "SELECT message FROM chat_messages WHERE chapter = ? AND message IN", chapter,
            {_clean(body.message) for _, body in chat if isinstance(body, MessagePosted)},
        )
    }  # fmt: skip
    writes: list[Statement] = []
    for e, body in chat:
        key = _clean(body.thread)
        if isinstance(body, ThreadStarted):
            threads[key] = thread_started(threads.get(key), e, body)
            continue
        message_key = _clean(body.message)
        threads[key], message = message_posted(threads.get(key), e, body, seen=message_key in seen)
        if message is not None:
            seen.add(message_key)
            writes.append((_INSERT_MESSAGE, _message_row(chapter, message)))
    writes.extend((_UPSERT_THREAD, _thread_row(chapter, threads[t])) for t in sorted(touched))
    return writes, (todo[-1].rev if todo else None)


def pending(chapter: str, events: Sequence[Envelope], done: int) -> Iterator[Envelope]:
    """The events of a batch past `done`, checked one by one as the fold reaches them.

    A bad event raises `ChatInputError` where it stands, after the earlier ones were written into
    the caller's transaction: the caller's rollback then drops the whole batch.
    """
    previous = None
    for e in events:
        if e.chapter != chapter:
            raise ChatInputError(
                f"rev {e.rev} belongs to chapter {e.chapter!r}, not {chapter!r}: nothing applied"
            )
        if previous is not None and e.rev <= previous:
            raise ChatInputError(
                f"rev {e.rev} follows rev {previous}: a batch must be in log order; nothing applied"
            )
        previous = e.rev
        _int64("rev", e.rev)
        _int64("at", e.at)
        if e.rev > done:
            yield e


def applied_rev(checkpoint: tuple[int, int] | None, version: int) -> int:
    """The rev a batch may skip up to: the checkpoint's, if it was written by this version."""
    if checkpoint is None or checkpoint[1] != version:
        return 0
    return checkpoint[0]


# -- reading: queries and row shaping ----------------------------------------------------------

_THREAD_COLUMNS = "thread, title, actor, created_rev, created_at, message_count, last_at"
_MESSAGE_COLUMNS = (
    "message, thread, role, text, citations, rev, answered_at_rev, model, usage, actor, at"
)
_citations_decoder = msgspec.json.Decoder(list[Citation])
_usage_decoder = msgspec.json.Decoder(TokenUsage)


def _thread_view(row: Sequence[Any]) -> ThreadView:
    thread, title, actor, created_rev, created_at, message_count, last_at = row
    return ThreadView(
        id=thread, title=title, actor=actor, created_rev=created_rev, created_at=created_at,
        message_count=message_count, last_at=last_at,
    )  # fmt: skip


def _message_view(row: Sequence[Any]) -> MessageView:
    message, thread, role, text, citations, rev, answered, model, usage, actor, at = row
    return MessageView(
        id=message, thread=thread, role=role, text=text,
        citations=_citations_decoder.decode(citations), rev=rev, answered_at_rev=answered,
        model=model, usage=None if usage is None else _usage_decoder.decode(usage), actor=actor,
        at=at,
    )  # fmt: skip


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidChatQuery(f"limit must be between 1 and {MAX_PAGE}, not {limit}")


class ChatReads:
    """The read methods, over any backend that can run a `?`-style query and return rows."""

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        raise NotImplementedError

    async def threads(
        self, chapter: str, *, limit: int = 50, before: str | None = None
    ) -> list[ThreadView]:
        """Threads newest first (by id: ids are ULIDs); pass the last id seen as `before`."""
        _check_limit(limit)
        cursor = "" if before is None else "AND thread < ? "
        rows = await self._rows(
            f"SELECT {_THREAD_COLUMNS} FROM chat_threads WHERE chapter = ? {cursor}"
            "ORDER BY thread DESC LIMIT ?",
            params(chapter, *(() if before is None else (before,)), limit),
        )
        return [_thread_view(row) for row in rows]

    async def thread(self, chapter: str, thread: str) -> ThreadView | None:
        """One thread, or None."""
        rows = await self._rows(
            f"SELECT {_THREAD_COLUMNS} FROM chat_threads WHERE chapter = ? AND thread = ?",
            params(chapter, thread),
        )
        return _thread_view(rows[0]) if rows else None

    async def messages(
        self, chapter: str, thread: str, *, limit: int = 100, after_rev: int = 0
    ) -> list[MessageView]:
        """A thread's messages oldest first; pass the last rev seen as `after_rev`."""
        _check_limit(limit)
        if after_rev < 0:
            raise InvalidChatQuery(f"after_rev must be 0 or more, not {after_rev}")
        rows = await self._rows(
            f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages "
            "WHERE chapter = ? AND thread = ? AND rev > ? ORDER BY rev LIMIT ?",
            params(chapter, thread, min(after_rev, _INT64), limit),
        )
        return [_message_view(row) for row in rows]

    async def digest(self, chapter: str) -> str:
        """A hash of the chapter's whole chat view (equal across backends for equal events)."""
        threads = await self._rows(
            f"SELECT {_THREAD_COLUMNS} FROM chat_threads WHERE chapter = ? ORDER BY thread",
            params(chapter),
        )
        messages = await self._rows(
            f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages WHERE chapter = ? ORDER BY message",
            params(chapter),
        )
        data = msgspec.msgpack.encode([[list(r) for r in threads], [list(r) for r in messages]])
        return rust_core.hash(data).hex()


# -- SQLite ----------------------------------------------------------------------------------


class ChatView(ChatReads, SqliteProjection):
    """The chat view in the views database (SQLite): update and checkpoint commit together."""

    name = "chat"
    version = CHAT_VERSION
    schema = schema_sql("TEXT")
    tables = TABLES
    refold_on_erasure = True

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        """Fold the events past the checkpoint and move it, in one transaction."""
        async with self.views.transaction() as db:
            if await self.erasure_reset(db, chapter, events):
                return
            # The writer lock is held: no other batch of this chapter can commit meanwhile.
            done = applied_rev(await self.load_checkpoint(chapter), self.version)

            async def query(sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
                return list(await (await db.execute(sql, args)).fetchall())

            writes, last = await fold_batch(query, chapter, events, done)
            for sql, args in writes:
                await db.execute(sql, args)
            if last is not None:
                await self._checkpoints.store(db, chapter, last, self.version)

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        return list(await self.views.fetchall(sql, args))


async def open_chat_view(
    url: str | None, views: Views, *, schema: str | None = None
) -> ChatView | PostgresChatView:
    """The chat view the configuration asks for, opened (tables created).

    None, "" or a SQLite path/URL (`sqlite:…`, or anything without a scheme) gives the SQLite view
    inside `views`: the chat view always shares the views database, whatever path is named.
    `postgresql://…` (or `postgres://…`) gives `PostgresChatView`; `schema` (PostgreSQL only)
    puts its tables in a schema of their own.
    """
    scheme = url.split("://", 1)[0].lower() if url and "://" in url else ""
    if not url or not url.strip() or url.lower().startswith("sqlite:") or not scheme:
        view = ChatView(views)
        await view.open()
        return view
    if scheme in ("postgresql", "postgres"):
        # Imported here because chat_postgres builds on this module's SQL and shapes.
        from projections.chat_postgres import PostgresChatView

        return await PostgresChatView.open(url, schema=schema)
    raise ChatViewConfigError(
        f"unsupported chat view URL scheme {scheme!r}: use a SQLite path or postgresql://…"
    )
