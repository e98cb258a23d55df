"""Zotero's local data directory (`~/Zotero`): `zotero.sqlite` and `storage/<key>/<file>`.

Zotero keeps its database open in exclusive WAL mode while it runs, so the database is never
read in place: `snapshot` copies `zotero.sqlite` and its `-wal` into a private directory, opens
the copy (SQLite folds the WAL's committed frames in), runs `PRAGMA integrity_check`, and copies
again when the copy is torn (Zotero wrote while we copied). The tables read, and only these:
`items`, `itemTypes`, `fields`, `itemData`, `itemDataValues`, `creators`, `itemCreators`,
`collections`, `collectionItems`, `tags`, `itemTags`, `itemAttachments`, `itemNotes`,
`deletedItems`.

Each attachment with a stored file (`storage:<file>`) and each note becomes a `RemoteItem` whose
ref is its Zotero key; its metadata (title, creators, year, DOI), item type, tags and collections
come from its parent item (or itself, when it stands alone). Items in the trash, or whose parent
is, count as deleted. The cursor is the newest `clientDateModified`: an item not modified since
(nor its parent, nor its file) keeps the hash the chapter already holds, so an unchanged library
is read without hashing a file; refs held but no longer live are deletions.

Imported only by `engine.connectors` users and, inside a function, by the CLI (`ragstack sync
--zotero-dir`), which reads the user's own directory: it imports nothing else of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import rust_core
from engine.connectors import Changes, ConnectorError, ItemFailed, RemoteItem
from events import SourceMeta

__all__ = ["DB_NAME", "ZoteroDirError", "ZoteroLocal", "read_library", "snapshot"]

DB_NAME = "zotero.sqlite"
SNAPSHOT_TRIES = 5
"""Copies tried before a torn database is an error."""
_LINK_IMPORTED_FILE, _LINK_IMPORTED_URL, _LINK_LINKED_FILE = 0, 1, 2
_YEAR = re.compile(r"\b(\d{4})\b")
_TAG = re.compile(r"<[^>]+>")


class ZoteroDirError(ConnectorError):
    """The directory is no Zotero data directory, or its database cannot be read (HTTP 422)."""

    code = "zotero_dir_unreadable"


@dataclass
class _Item:
    id: int
    key: str
    type: str
    modified: str
    fields: dict[str, str] = field(default_factory=dict)
    creators: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)


@dataclass
class _Child:
    item: _Item
    parent: int | None
    link_mode: int = -1
    content_type: str = ""
    path: str | None = None
    note: str | None = None
    note_title: str = ""


@dataclass(frozen=True)
class Library:
    """What `read_library` found: live attachments and notes, and the cursor."""

    children: list[_Child]
    items: dict[int, _Item]
    cursor: str | None


@contextlib.contextmanager
def snapshot(directory: Path, *, tries: int = SNAPSHOT_TRIES) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a consistent private copy of `directory`'s database."""
    source = directory / DB_NAME
    if not source.is_file():
        raise ZoteroDirError(f"{directory} is not a Zotero data directory (it has no {DB_NAME})")
    with tempfile.TemporaryDirectory(prefix="ragstack-zotero-") as tmp:
        copy = Path(tmp) / DB_NAME
        problem = ""
        for attempt in range(tries):
            for suffix in ("", "-wal"):
                with contextlib.suppress(FileNotFoundError):
                    (Path(tmp) / (DB_NAME + suffix)).unlink()
            try:
                shutil.copyfile(source, copy)
                wal = directory / (DB_NAME + "-wal")
                if wal.exists():
                    shutil.copyfile(wal, Path(tmp) / (DB_NAME + "-wal"))
                db = sqlite3.connect(copy)
            except (OSError, sqlite3.Error) as exc:
                problem = str(exc)
            else:
                try:
                    found = db.execute("PRAGMA integrity_check").fetchone()
                    if found is not None and found[0] == "ok":
                        db.execute("PRAGMA query_only = ON")
                        try:
                            yield db
                        finally:
                            db.close()
                        return
                    problem = f"integrity check: {found[0] if found else 'no answer'}"
                except sqlite3.Error as exc:
                    problem = str(exc)
                db.close()
            time.sleep(0.05 * (attempt + 1))  # Zotero was writing: let it finish, copy again
    raise ZoteroDirError(
        f"the Zotero database in {directory} could not be copied whole after {tries} tries"
        f" ({problem})"
    )


def _rows(db: sqlite3.Connection, sql: str) -> list[tuple]:
    try:
        return db.execute(sql).fetchall()
    except sqlite3.Error as exc:
        raise ZoteroDirError(f"the Zotero database cannot be read: {exc}") from None


def read_library(db: sqlite3.Connection) -> Library:
    """Every live attachment and note, with their parents' metadata."""
    items = {
        row[0]: _Item(id=row[0], key=row[1], type=row[2], modified=row[3] or "")
        for row in _rows(
            db,
            "SELECT i.itemID, i.key, t.typeName, i.clientDateModified FROM items i "
            "JOIN itemTypes t ON t.itemTypeID = i.itemTypeID",
        )
    }
    for item_id, name, value in _rows(
        db,
        "SELECT d.itemID, f.fieldName, v.value FROM itemData d "
        "JOIN fields f ON f.fieldID = d.fieldID JOIN itemDataValues v ON v.valueID = d.valueID",
    ):
        if item_id in items:
            items[item_id].fields[name] = str(value)
    for item_id, first, last, mode in _rows(
        db,
        "SELECT ic.itemID, c.firstName, c.lastName, c.fieldMode FROM itemCreators ic "
        "JOIN creators c ON c.creatorID = ic.creatorID ORDER BY ic.itemID, ic.orderIndex",
    ):
        if item_id in items:
            single = mode == 1 or not first
            items[item_id].creators.append(last if single else f"{last}, {first}")
    for item_id, name in _rows(
        db, "SELECT it.itemID, t.name FROM itemTags it JOIN tags t ON t.tagID = it.tagID"
    ):
        if item_id in items:
            items[item_id].tags.append(name)
    collections = {
        row[0]: (row[1], row[2])
        for row in _rows(
            db, "SELECT collectionID, collectionName, parentCollectionID FROM collections"
        )
    }
    for collection, item_id in _rows(db, "SELECT collectionID, itemID FROM collectionItems"):
        if item_id in items:
            items[item_id].collections.append(_path(collections, collection))
    trashed = {row[0] for row in _rows(db, "SELECT itemID FROM deletedItems")}
    children: list[_Child] = []
    for item_id, parent, mode, content_type, path in _rows(
        db, "SELECT itemID, parentItemID, linkMode, contentType, path FROM itemAttachments"
    ):
        if item_id in items:
            children.append(
                _Child(item=items[item_id], parent=parent, link_mode=mode if mode is not None
                       else -1, content_type=content_type or "", path=path)
            )  # fmt: skip
    for item_id, parent, note, title in _rows(
        db, "SELECT itemID, parentItemID, note, title FROM itemNotes"
    ):
        if item_id in items:
            children.append(
                _Child(item=items[item_id], parent=parent, note=note or "", note_title=title or "")
            )
    live = [
        c
        for c in children
        if c.item.id not in trashed
        and (c.parent is None or (c.parent in items and c.parent not in trashed))
        and c.link_mode != 3  # a linked URL has no bytes of its own
    ]
    stamps = [i.modified for i in items.values() if i.modified]
    return Library(children=live, items=items, cursor=max(stamps) if stamps else None)


def _path(collections: Mapping[int, tuple[str, int | None]], collection: int) -> str:
    names: list[str] = []
    seen: set[int] = set()
    current: int | None = collection
    while current is not None and current in collections and current not in seen:
        seen.add(current)
        name, current = collections[current]
        names.append(name.replace("/", "∕"))  # a slash inside a name is not a level
    return "/" + "/".join(reversed(names))


def _meta(item: _Item) -> SourceMeta:
    date = item.fields.get("date", "")
    year = _YEAR.search(date)
    doi = item.fields.get("DOI", "").strip() or None
    return SourceMeta(
        title=item.fields.get("title", ""),
        authors=item.creators,
        year=int(year.group(1)) if year else None,
        doi=doi,
    )


def _stamp(path: Path) -> str:
    """A file's modification time in `clientDateModified`'s form (UTC)."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S")


class ZoteroLocal:
    """The Connector over a Zotero data directory on this machine."""

    kind: ClassVar[str] = "zotero"

    def __init__(self, directory: str | os.PathLike[str], *, linked_files: bool = False) -> None:
        """`linked_files`: read attachments Zotero links to outside its directory (the CLI, on
        the user's own machine); a server reading under an operator's root never does."""
        self.directory = Path(directory).expanduser()
        self.linked_files = linked_files
        self.known: Mapping[str, str] = {}
        self._files: dict[str, Path] = {}
        self._notes: dict[str, bytes] = {}

    def with_known(self, known: Mapping[str, str]) -> ZoteroLocal:
        """Tell the lister the blob each live ref has in the chapter now (ref → hash): unchanged
        items keep it unhashed, and refs it lists no more are deletions."""
        self.known = dict(known)
        return self

    async def changes(self, cursor: str | None) -> Changes:
        return await asyncio.to_thread(self._changes, cursor)

    def _changes(self, cursor: str | None) -> Changes:
        with snapshot(self.directory) as db:
            library = read_library(db)
        items = [self._item(library, child, cursor) for child in library.children]
        live = {i.ref for i in items}
        deleted = sorted(set(self.known) - live)
        return Changes(items=items, deleted=deleted, cursor=library.cursor)

    def _item(self, library: Library, child: _Child, cursor: str | None) -> RemoteItem:
        item = child.item
        parent = library.items.get(child.parent) if child.parent is not None else None
        described = parent or item
        tags = [*described.tags, *(item.tags if parent else []), f"type:{described.type}"]
        tags += [f"collection:{p}" for p in described.collections]
        meta = _meta(described)
        stamps = [item.modified, parent.modified if parent else ""]
        if child.note is not None:
            data = child.note.encode()
            self._notes[item.key] = data
            title = child.note_title or _TAG.sub(" ", child.note).strip()[:80] or "Note"
            return RemoteItem(
                ref=item.key, name=f"{title}.html", media_type="text/html", tags=tags, meta=meta,
                blob=rust_core.hash(data).hex(),
            )  # fmt: skip
        name, path, error = self._file(child)
        media_type = child.content_type or "application/octet-stream"
        if error is not None or path is None:
            return RemoteItem(ref=item.key, name=name, media_type=media_type, tags=tags,
                              meta=meta, error=error or "no file")  # fmt: skip
        self._files[item.key] = path
        known = self.known.get(item.key)
        fresh = cursor is None or known is None or any(s > cursor for s in stamps if s)
        if not fresh:
            with contextlib.suppress(OSError):
                fresh = _stamp(path) > cursor  # type: ignore[operator]  # cursor is set here
        blob = known if not fresh else None
        if blob is None:
            try:
                blob = rust_core.hash(path.read_bytes()).hex()
            except OSError as exc:
                return RemoteItem(ref=item.key, name=name, media_type=media_type, tags=tags,
                                  meta=meta, error=f"{name} cannot be read: {exc.strerror}")  # fmt: skip
        return RemoteItem(ref=item.key, name=name, media_type=media_type, tags=tags, meta=meta,
                          blob=blob)  # fmt: skip

    def _file(self, child: _Child) -> tuple[str, Path | None, str | None]:
        stored = child.path or ""
        if child.link_mode in (_LINK_IMPORTED_FILE, _LINK_IMPORTED_URL) and stored.startswith(
            "storage:"
        ):
            name = stored.removeprefix("storage:")
            folder = (self.directory / "storage" / child.item.key).resolve()
            path = (folder / name).resolve()
            if not path.is_relative_to(folder):
                return name or "attachment", None, "its file name leaves its storage folder"
            if not path.is_file():
                return name, None, f"{name} is missing from storage/{child.item.key}/"
            return name, path, None
        if child.link_mode == _LINK_LINKED_FILE and stored:
            name = Path(stored).name or "attachment"
            if not self.linked_files:
                return name, None, "a linked file outside the Zotero directory is not read here"
            path = Path(stored)
            if not path.is_file():
                return name, None, f"the linked file {stored} is missing"
            return name, path, None
        return child.item.fields.get("title", "attachment"), None, "the attachment has no file"

    async def fetch(self, item: RemoteItem) -> bytes:
        if item.ref in self._notes:
            return self._notes[item.ref]
        path = self._files.get(item.ref)
        if path is None:
            raise ItemFailed("unreadable", f"{item.name} has no file")
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise ItemFailed("unreadable", f"{item.name} cannot be read: {exc.strerror}") from None
