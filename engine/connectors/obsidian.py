"""An Obsidian vault: a folder of Markdown notes (`*.md`), read where it lies.

Each note becomes a `RemoteItem` whose ref is its vault-relative path (`Projects/Plan.md`, `/`
separated on every system): its folders become a `collection:/Projects` tag, its `#tags` (outside
code) and its front matter's `tags:` become tags, `type:note` marks it, and the front matter's
`title` (else its first alias), `author`/`authors`, `date` (the year) and `doi` fill its
`SourceMeta`. The note's bytes are the source as they are: wiki-links (`[[Note]]`) stay text.
The vault's PDFs (what notes embed with `![[paper.pdf]]`) are sources too, tagged
`type:attachment` and by folder; images are not (nothing extracts text from them).

Ignored: `.obsidian/` (the app's settings), `.trash/` (Obsidian's own bin), every other hidden
folder or file, and symbolic links leading out of the vault. A note that is not UTF-8 is listed
with its reason, so it becomes a rejected source while the rest land.

Incremental: the cursor is the newest modification time seen (ns). A note the chapter holds and
not modified since is not read nor listed (its ref is its path, so its folder tags cannot have
moved either); refs held and no longer on disk are deletions. A rename or move is therefore a
deletion and an addition (the bytes are stored once).

Imported by the server's connectors (kind `obsidian` with a path under `[connectors]
local_root`) and, inside a function, by the CLI (`ragstack sync --obsidian-vault`), which reads
the user's own vault: it imports nothing else of the server.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

import rust_core
from engine.connectors import Changes, ConnectorError, ItemFailed, RemoteItem
from events import SourceMeta

__all__ = ["IGNORED_FOLDERS", "ObsidianVault", "VaultError", "note_tags", "parse_note"]

IGNORED_FOLDERS = frozenset({".obsidian", ".trash"})
"""Named for the docs; every hidden folder is skipped (these are Obsidian's)."""
MEDIA_TYPE = "text/markdown"
ATTACHMENTS = {".pdf": "application/pdf"}
"""Files besides notes that become sources, by suffix (lower case), with their media type."""
_MAX_FRONT_MATTER = 64 * 1024
"""Characters searched for the front matter's end (properties are short; a note is not)."""
_YEAR = re.compile(r"\b(\d{4})\b")
# Obsidian's tag: after a space or the line's start, letters, digits, `_`, `-`, `/`, and at least
# one character that is not a digit (`#2024` is no tag; `#y2024` is).
_INLINE_TAG = re.compile(r"(?:(?<=\s)|^)#([\w/-]*[^\W\d][\w/-]*)", re.UNICODE | re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
_CODE = re.compile(r"`[^`\n]*`")


class VaultError(ConnectorError):
    """The folder is not there or cannot be listed (HTTP 422)."""

    code = "vault_unreadable"


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The front matter (a YAML mapping between `---` lines at the very top) and the body after
    it. Front matter that is not a mapping, or not YAML, is left in the body as text."""
    if not text.startswith("---"):
        return {}, text
    head = text[:_MAX_FRONT_MATTER]
    lines = head.split("\n")
    if lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            try:
                found = yaml.safe_load("\n".join(lines[1:end]))
            except (yaml.YAMLError, ValueError, TypeError, RecursionError):
                # Not YAML, or YAML no value can be made of (a 13th month, a 5,000-deep list).
                return {}, text
            if found is None:
                found = {}
            if not isinstance(found, dict):
                return {}, text
            return found, text[len("\n".join(lines[: end + 1])) + 1 :]
    return {}, text


def _strings(value: object, *, words: bool = False) -> list[str]:
    """A front-matter value as strings: a list's items, or a string split at commas (and at
    spaces too for `words`, as Obsidian reads `tags: a b`)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [p.strip() for p in re.split(r"[,\s]+" if words else ",", str(value)) if p.strip()]


def note_tags(body: str) -> list[str]:
    """The `#tags` of a note's body, outside fenced and inline code, without their `#`."""
    bare = _CODE.sub(" ", _FENCE.sub(" ", body))
    return [m.group(1) for m in _INLINE_TAG.finditer(bare)]


def parse_note(text: str) -> tuple[list[str], SourceMeta]:
    """A note's own tags (front matter's `tags`, then the `#tags` of its body) and metadata."""
    front, body = _front_matter(text)
    tags = [t.lstrip("#") for t in _strings(front.get("tags", front.get("tag")), words=True)]
    tags += note_tags(body)
    aliases = _strings(front.get("aliases", front.get("alias")))
    title = str(front.get("title") or "").strip() or next(iter(aliases), "")
    raw = front.get("authors", front.get("author"))
    # One author as a string is "Last, First": its comma is not a separator.
    authors = _strings(raw) if isinstance(raw, list) else [str(raw).strip()] if raw else []
    date = front.get("date", front.get("year"))
    year = _YEAR.search(str(date)) if date is not None else None
    doi = str(front.get("doi") or front.get("DOI") or "").strip() or None
    return tags, SourceMeta(
        title=title[:1000], authors=authors[:100], year=int(year.group(1)) if year else None,
        doi=doi,
    )  # fmt: skip


def _media_type(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    return MEDIA_TYPE if suffix == ".md" else ATTACHMENTS.get(suffix)


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    """(vault-relative ref, path) of every note and attachment, hidden folders and files
    skipped."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or _media_type(name) is None:
                continue
            path = Path(folder) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                continue  # a link out of the vault: what it points at is not the vault's
            yield path.relative_to(root).as_posix(), path


class ObsidianVault:
    """The Connector over an Obsidian vault on this machine."""

    kind: ClassVar[str] = "obsidian"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        self.known: Mapping[str, str] = {}
        self._paths: dict[str, Path] = {}

    def with_known(self, known: Mapping[str, str]) -> ObsidianVault:
        """Tell the lister the blob each live ref has in the chapter now (ref → hash): unchanged
        notes are not read, and refs no longer on disk are deletions."""
        self.known = dict(known)
        return self

    async def changes(self, cursor: str | None) -> Changes:
        return await asyncio.to_thread(self._changes, cursor)

    def _changes(self, cursor: str | None) -> Changes:
        root = self.directory.resolve()
        if not root.is_dir():
            raise VaultError(f"{self.directory} is not a folder")
        since = int(cursor) if cursor and cursor.isdigit() else None
        items: list[RemoteItem] = []
        live: set[str] = set()
        newest = since or 0
        try:
            found = list(_files(root))
        except OSError as exc:
            raise VaultError(
                f"the vault {self.directory} cannot be listed: {exc.strerror}"
            ) from None
        for ref, path in found:
            try:
                mtime = path.stat().st_mtime_ns
            except OSError:
                continue  # gone between the listing and now: the next sync sees it deleted
            live.add(ref)
            self._paths[ref] = path
            newest = max(newest, mtime)
            if since is not None and ref in self.known and mtime <= since:
                continue
            items.append(self._item(ref, path))
        deleted = sorted(set(self.known) - live)
        return Changes(items=items, deleted=deleted, cursor=str(newest) if newest else cursor)

    def _item(self, ref: str, path: Path) -> RemoteItem:
        folder = ref.rpartition("/")[0]
        media_type = _media_type(path.name) or MEDIA_TYPE
        note = media_type == MEDIA_TYPE
        tags = ["type:note" if note else "type:attachment"]
        tags += [f"collection:/{folder}"] if folder else []
        try:
            data = path.read_bytes()
        except OSError as exc:
            return RemoteItem(ref=ref, name=path.name, media_type=media_type, tags=tags,
                              error=f"{ref} cannot be read: {exc.strerror}")  # fmt: skip
        if not note:
            return RemoteItem(ref=ref, name=path.name, media_type=media_type, tags=tags,
                              blob=rust_core.hash(data).hex())  # fmt: skip
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return RemoteItem(
                ref=ref, name=path.name, media_type=MEDIA_TYPE, tags=tags,
                error=f"{ref} is not UTF-8 text (byte {exc.start} is not UTF-8): save it as"
                      " UTF-8 to sync it",
            )  # fmt: skip
        own, meta = parse_note(text)
        return RemoteItem(ref=ref, name=path.name, media_type=MEDIA_TYPE, tags=tags + own,
                          meta=meta, blob=rust_core.hash(data).hex())  # fmt: skip

    async def fetch(self, item: RemoteItem) -> bytes:
        path = self._paths.get(item.ref)
        if path is None:
            raise ItemFailed("unreadable", f"{item.ref} is not in the vault")
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise ItemFailed("unreadable", f"{item.ref} cannot be read: {exc.strerror}") from None
