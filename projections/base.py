"""A projection whose read model lives in the views database, with one handler per event type.

The views database is the SQLite file (`projections.store.Views`) or PostgreSQL
(`projections.store_postgres.PostgresViews`): handlers write portable SQL with `?` placeholders
through the transaction's connection, whichever it is.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import aiosqlite

from events import ContentErased, Envelope, Event
from projections.store import Checkpoints, Views

if TYPE_CHECKING:
    from projections.store_postgres import PostgresViews

H = TypeVar("H", bound=Callable[..., Awaitable[None]])


def handles(*event_types: type[Event]) -> Callable[[H], H]:
    """Mark a method as the handler of `event_types`.

    The method is `async def on_x(self, db, e: Envelope, body: X)`: `body` is `e.body`, handed
    over already known to be one of `event_types` (type the parameter with them).
    """

    def mark(method: H) -> H:
        method.__dict__.setdefault("_handles", []).extend(event_types)
        return method

    return mark


class SqliteProjection:
    """Base of read models in SQLite: the update and the checkpoint commit together.

    Subclasses set `name`, `version`, `schema` (DDL) and `tables` (the tables keyed by chapter
    that a rebuild clears), and mark handlers with `@handles(...)`. A second handler for the same
    event type is refused when the class is defined.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    schema: ClassVar[str] = ""
    tables: ClassVar[tuple[str, ...]] = ()
    refold_on_erasure: ClassVar[bool] = False
    """Whether a `ContentErased` clears the chapter's rows and checkpoint so that the runner
    re-folds it from rev 1, the erased fields now reading as erased (views holding personal
    texts: catalogue, chat)."""
    _handlers: ClassVar[dict[type[Event], str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass keeps its parent's handlers (and may replace one with its own).
        own: dict[type[Event], str] = {}
        for attr, value in vars(cls).items():
            for event_type in getattr(value, "_handles", ()):
                if event_type in own:
                    raise TypeError(
                        f"{cls.__name__} handles {event_type.__name__} twice: "
                        f"{own[event_type]} and {attr}"
                    )
                own[event_type] = attr
        cls._handlers = {**getattr(cls, "_handlers", {}), **own}

    def __init__(self, views: "Views | PostgresViews") -> None:
        self.views = views
        self._checkpoints = Checkpoints(views, self.name)

    async def open(self) -> None:
        """Create the read model's tables (in SQLite: PostgreSQL's come from its migrations,
        `projections.store_postgres.MIGRATIONS`)."""
        if self.schema and self.views.dialect == "sqlite":
            await self.views.script(self.schema)

    async def load_checkpoint(self, chapter: str) -> tuple[int, int] | None:
        """(rev, version) last applied for `chapter`."""
        return await self._checkpoints.load(chapter)

    async def reset(self, chapter: str) -> None:
        """Clear the chapter's rows and checkpoint in one transaction."""
        async with self.views.transaction() as db:
            for table in self.tables:
                await db.execute(f"DELETE FROM {table} WHERE chapter = ?", (chapter,))
            await self._checkpoints.forget(db, chapter)

    async def erasure_reset(
        self, db: aiosqlite.Connection, chapter: str, events: Sequence[Envelope]
    ) -> bool:
        """Inside the open transaction `db`: when `events` hold an erasure this projection has not
        re-folded for, clear the chapter's rows and checkpoint (the runner then re-folds from rev
        1) and remember the erasure's rev, so that the re-fold passes it; True then. One
        transaction, so a crash leaves either the old rows or none."""
        if not self.refold_on_erasure:
            return False
        erasures = [e.rev for e in events if isinstance(e.body, ContentErased)]
        if not erasures:
            return False
        row = await self.fetchone(
            db,
            "SELECT rev FROM erasure_refolds WHERE projection = ? AND chapter = ?",
            self.name,
            chapter,
        )
        if row is not None and max(erasures) <= row[0]:
            return False
        for table in self.tables:
            await db.execute(f"DELETE FROM {table} WHERE chapter = ?", (chapter,))
        await self._checkpoints.forget(db, chapter)
        await db.execute(
            "INSERT INTO erasure_refolds VALUES (?, ?, ?) ON CONFLICT (projection, chapter) "
            "DO UPDATE SET rev = excluded.rev",
            (self.name, chapter, max(erasures)),
        )
        return True

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        """Run each event's handler, then store the checkpoint, all in one transaction."""
        async with self.views.transaction() as db:
            await self._checkpoints.fence(db, chapter)
            if await self.erasure_reset(db, chapter, events):
                return
            for envelope in events:
                handler = self._handlers.get(type(envelope.body))
                if handler is not None:
                    await getattr(self, handler)(db, envelope, envelope.body)
            await self._checkpoints.store(
                db, chapter, events[-1].rev, self.version, after=events[0].rev - 1
            )

    async def idle(self, chapter: str) -> None:
        """Nothing deferred by default."""

    @staticmethod
    async def execute(db: aiosqlite.Connection, sql: str, *params: Any) -> None:
        """Shorthand for a write inside a handler."""
        await db.execute(sql, params)

    @staticmethod
    async def fetchone(db: aiosqlite.Connection, sql: str, *params: Any) -> Any | None:
        """Shorthand for a read inside a handler: it sees the transaction's writes so far."""
        rows = list(await db.execute_fetchall(sql, params))  # one trip to the connection's thread
        return rows[0] if rows else None
