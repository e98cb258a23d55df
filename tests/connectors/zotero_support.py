"""A Zotero data directory built by the tests: `zotero.sqlite` with the tables the connector
reads, and files under `storage/<key>/`.

The schema is written here from the table and column names the connector reads (a subset, with
our own types and keys); it is not Zotero's schema file.
"""

from __future__ import annotations

import random
import sqlite3
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE itemTypes (itemTypeID INTEGER PRIMARY KEY, typeName TEXT NOT NULL UNIQUE);
CREATE TABLE fields (fieldID INTEGER PRIMARY KEY, fieldName TEXT NOT NULL UNIQUE);
CREATE TABLE items (
    itemID INTEGER PRIMARY KEY, itemTypeID INTEGER NOT NULL, dateAdded TEXT NOT NULL,
    dateModified TEXT NOT NULL, clientDateModified TEXT NOT NULL, libraryID INTEGER NOT NULL,
    key TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 0, synced INTEGER NOT NULL DEFAULT 0,
    UNIQUE (libraryID, key)
);
CREATE TABLE itemDataValues (valueID INTEGER PRIMARY KEY, value TEXT UNIQUE);
CREATE TABLE itemData (
    itemID INTEGER NOT NULL, fieldID INTEGER NOT NULL, valueID INTEGER NOT NULL,
    PRIMARY KEY (itemID, fieldID)
);
CREATE TABLE creators (
    creatorID INTEGER PRIMARY KEY, firstName TEXT, lastName TEXT, fieldMode INTEGER
);
CREATE TABLE itemCreators (
    itemID INTEGER NOT NULL, creatorID INTEGER NOT NULL, creatorTypeID INTEGER NOT NULL DEFAULT 1,
    orderIndex INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (itemID, creatorID, creatorTypeID, orderIndex)
);
CREATE TABLE collections (
    collectionID INTEGER PRIMARY KEY, collectionName TEXT NOT NULL, parentCollectionID INTEGER,
    clientDateModified TEXT, libraryID INTEGER NOT NULL, key TEXT NOT NULL
);
CREATE TABLE collectionItems (
    collectionID INTEGER NOT NULL, itemID INTEGER NOT NULL, orderIndex INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collectionID, itemID)
);
CREATE TABLE tags (tagID INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE itemTags (
    itemID INTEGER NOT NULL, tagID INTEGER NOT NULL, type INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (itemID, tagID)
);
CREATE TABLE itemAttachments (
    itemID INTEGER PRIMARY KEY, parentItemID INTEGER, linkMode INTEGER, contentType TEXT,
    charsetID INTEGER, path TEXT, syncState INTEGER DEFAULT 0, storageModTime INTEGER,
    storageHash TEXT
);
CREATE TABLE itemNotes (itemID INTEGER PRIMARY KEY, parentItemID INTEGER, note TEXT, title TEXT);
CREATE TABLE deletedItems (itemID INTEGER PRIMARY KEY, dateDeleted TEXT NOT NULL);
"""


def pdf_bytes(text: str) -> bytes:
    """A small valid one-page PDF whose page shows `text` (ASCII)."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def new_key(rng: random.Random | None = None) -> str:
    pick = rng or random
    return "".join(pick.choice(string.ascii_uppercase + string.digits) for _ in range(8))


@dataclass
class ZoteroDir:
    """A data directory under construction; every write bumps a fake clock."""

    root: Path
    db: sqlite3.Connection = field(init=False)
    clock: int = 0
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        (self.root / "storage").mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.root / "zotero.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'items'").fetchone():
            self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def now(self) -> str:
        """A `clientDateModified` stamp: the real time (so files written now are not newer
        than the items that name them) plus one second per write, so every write is newer."""
        self.clock += 1
        stamp = self.started + timedelta(seconds=self.clock)
        return stamp.strftime("%Y-%m-%d %H:%M:%S")

    def _id(self, table: str, column: str, value: str) -> int:
        row = self.db.execute(f"SELECT rowid FROM {table} WHERE {column} = ?", (value,)).fetchone()
        if row:
            return int(row[0])
        return int(
            self.db.execute(f"INSERT INTO {table} ({column}) VALUES (?)", (value,)).lastrowid
        )

    def _item(self, type_name: str, key: str | None = None) -> tuple[int, str]:
        key = key or new_key()
        type_id = self._id("itemTypes", "typeName", type_name)
        stamp = self.now()
        cursor = self.db.execute(
            "INSERT INTO items (itemTypeID, dateAdded, dateModified, clientDateModified,"
            " libraryID, key) VALUES (?, ?, ?, ?, 1, ?)",
            (type_id, stamp, stamp, stamp, key),
        )
        return int(cursor.lastrowid), key

    def touch(self, item_id: int) -> None:
        self.db.execute(
            "UPDATE items SET clientDateModified = ? WHERE itemID = ?", (self.now(), item_id)
        )

    def set_field(self, item_id: int, name: str, value: str) -> None:
        field_id = self._id("fields", "fieldName", name)
        value_id = self._id("itemDataValues", "value", value)
        self.db.execute(
            "INSERT OR REPLACE INTO itemData (itemID, fieldID, valueID) VALUES (?, ?, ?)",
            (item_id, field_id, value_id),
        )
        self.touch(item_id)

    def add_paper(
        self,
        *,
        title: str,
        authors: list[tuple[str, str]],
        date: str = "",
        doi: str = "",
        type_name: str = "journalArticle",
        tags: list[str] = (),
        collections: list[int] = (),
    ) -> int:
        item_id, _ = self._item(type_name)
        self.set_field(item_id, "title", title)
        if date:
            self.set_field(item_id, "date", date)
        if doi:
            self.set_field(item_id, "DOI", doi)
        for order, (first, last) in enumerate(authors):
            creator = self.db.execute(
                "INSERT INTO creators (firstName, lastName, fieldMode) VALUES (?, ?, ?)",
                (first, last, 1 if not first else 0),
            ).lastrowid
            self.db.execute(
                "INSERT INTO itemCreators (itemID, creatorID, orderIndex) VALUES (?, ?, ?)",
                (item_id, creator, order),
            )
        for tag in tags:
            self.tag(item_id, tag)
        for collection in collections:
            self.file_in(item_id, collection)
        return item_id

    def tag(self, item_id: int, name: str) -> None:
        tag_id = self._id("tags", "name", name)
        self.db.execute(
            "INSERT OR IGNORE INTO itemTags (itemID, tagID) VALUES (?, ?)", (item_id, tag_id)
        )
        self.touch(item_id)

    def collection(self, name: str, parent: int | None = None) -> int:
        return int(
            self.db.execute(
                "INSERT INTO collections (collectionName, parentCollectionID, clientDateModified,"
                " libraryID, key) VALUES (?, ?, ?, 1, ?)",
                (name, parent, self.now(), new_key()),
            ).lastrowid
        )

    def file_in(self, item_id: int, collection: int) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO collectionItems (collectionID, itemID) VALUES (?, ?)",
            (collection, item_id),
        )
        self.touch(item_id)

    def attach(
        self, parent: int | None, name: str, data: bytes, content_type: str = "application/pdf"
    ) -> tuple[int, str]:
        item_id, key = self._item("attachment")
        folder = self.root / "storage" / key
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        self.db.execute(
            "INSERT INTO itemAttachments (itemID, parentItemID, linkMode, contentType, path)"
            " VALUES (?, ?, 0, ?, ?)",
            (item_id, parent, content_type, f"storage:{name}"),
        )
        return item_id, key

    def replace_file(self, item_id: int, data: bytes) -> None:
        key, path = self.db.execute(
            "SELECT i.key, a.path FROM items i JOIN itemAttachments a USING (itemID)"
            " WHERE itemID = ?",
            (item_id,),
        ).fetchone()
        (self.root / "storage" / key / path.removeprefix("storage:")).write_bytes(data)
        self.touch(item_id)

    def note(self, parent: int | None, html: str) -> tuple[int, str]:
        item_id, key = self._item("note")
        self.db.execute(
            "INSERT INTO itemNotes (itemID, parentItemID, note, title) VALUES (?, ?, ?, ?)",
            (item_id, parent, html, ""),
        )
        return item_id, key

    def trash(self, item_id: int) -> None:
        self.db.execute(
            "INSERT INTO deletedItems (itemID, dateDeleted) VALUES (?, ?)", (item_id, self.now())
        )
        self.touch(item_id)

    def delete(self, item_id: int) -> None:
        for table in ("itemAttachments", "itemNotes", "itemData", "itemTags", "collectionItems",
                      "deletedItems", "items"):  # fmt: skip
            self.db.execute(f"DELETE FROM {table} WHERE itemID = ?", (item_id,))
