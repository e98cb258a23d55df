"""The Zotero Web API (v3): a user or group library read with an API key.

- `GET /<library>/collections` (all of them, paginated) gives the collection paths;
- `GET /<library>/items?since=<cursor>&includeTrashed=1` with `If-Modified-Since-Version`
  gives what changed (304: nothing did); the answer's `Last-Modified-Version` is the next cursor;
- `GET /<library>/deleted?since=<cursor>` gives the keys deleted since;
- `GET /<library>/items/<key>/file` gives an attachment's bytes.

An attachment or note changed, or whose parent changed, is listed again; a parent's children
come from `/items/<key>/children`, a child's parent from `/items/<key>`. A collection changed
(renamed, moved) relists the whole library, since every item's collection tags may move. Items
with `deleted: 1` (the trash) count as deleted. Pagination follows `Link: <…>; rel="next"`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from engine.connectors import Changes, ConnectorError, ItemFailed, RemoteItem
from engine.connectors.http import ServiceClient
from engine.rules import Invalid
from events import SourceMeta

__all__ = ["DEFAULT_BASE_URL", "ZoteroWeb", "check_library", "map_item"]

DEFAULT_BASE_URL = "https://api.zotero.org"
PAGE = 100
_LIBRARY = re.compile(r"(users|groups)/\d{1,12}")
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_YEAR = re.compile(r"\b(\d{4})\b")
_TAG = re.compile(r"<[^>]+>")


def check_library(library: str) -> str:
    """`users/<id>` or `groups/<id>`; Invalid otherwise."""
    library = library.strip().strip("/")
    if not _LIBRARY.fullmatch(library):
        raise Invalid(f"a Zotero library is users/<number> or groups/<number>, not {library!r}")
    return library


def _creator(c: dict[str, Any]) -> str:
    if c.get("name"):
        return str(c["name"])
    first, last = str(c.get("firstName", "")), str(c.get("lastName", ""))
    return f"{last}, {first}" if first else last


def map_meta(data: dict[str, Any]) -> SourceMeta:
    """An item's bibliographic metadata from its API `data`."""
    year = _YEAR.search(str(data.get("date", "")))
    return SourceMeta(
        title=str(data.get("title", "")),
        authors=[_creator(c) for c in data.get("creators", []) if isinstance(c, dict)],
        year=int(year.group(1)) if year else None,
        doi=str(data.get("DOI", "")).strip() or None,
    )


def map_item(
    data: dict[str, Any], parent: dict[str, Any] | None, paths: dict[str, str]
) -> RemoteItem | None:
    """The RemoteItem of an attachment or note (None for a regular item or a linked URL)."""
    kind = data.get("itemType")
    described = parent or data
    tags = [str(t["tag"]) for t in described.get("tags", []) if isinstance(t, dict) and "tag" in t]
    if parent is not None:
        tags += [str(t["tag"]) for t in data.get("tags", []) if isinstance(t, dict) and "tag" in t]
    tags.append(f"type:{described.get('itemType', 'document')}")
    tags += [f"collection:{paths[c]}" for c in described.get("collections", []) if c in paths]
    meta = map_meta(described)
    key = str(data["key"])
    if kind == "note":
        html = str(data.get("note", ""))
        title = _TAG.sub(" ", html).strip()[:80] or "Note"
        return RemoteItem(ref=key, name=f"{title}.html", media_type="text/html", tags=tags,
                          meta=meta)  # fmt: skip
    if kind != "attachment" or data.get("linkMode") == "linked_url":
        return None
    name = str(data.get("filename") or data.get("title") or "attachment")
    error = None
    if data.get("linkMode") == "linked_file":
        error = "a linked file lives on its owner's computer, not in the Zotero library"
    return RemoteItem(
        ref=key, name=name, media_type=str(data.get("contentType") or "application/octet-stream"),
        tags=tags, meta=meta, error=error,
    )  # fmt: skip


class ZoteroWeb:
    """The Connector over the Zotero Web API."""

    kind: ClassVar[str] = "zotero"

    def __init__(self, client: ServiceClient, library: str) -> None:
        self.client = client
        self.library = check_library(library)
        self._notes: dict[str, bytes] = {}

    async def _pages(self, path: str, params: dict[str, Any], headers: dict[str, str] | None = None
                     ) -> tuple[list[dict[str, Any]], int | None, bool]:  # fmt: skip
        """Every record of a paginated listing, the library version, and False on a 304."""
        records: list[dict[str, Any]] = []
        url: str | None = f"/{self.library}/{path}"
        query: dict[str, Any] | None = {**params, "format": "json", "limit": PAGE}
        version = None
        while url is not None:
            response = await self.client.get(url, params=query, headers=headers, ok=(200, 304))
            if response.status_code == 304:
                return [], None, False
            version = _version(response)
            page = response.json()
            if not isinstance(page, list):
                raise ConnectorError("the Zotero API answered a listing with something else")
            records += [r for r in page if isinstance(r, dict) and isinstance(r.get("data"), dict)]
            found = _NEXT.search(response.headers.get("Link", ""))
            url, query = (found.group(1), None) if found else (None, None)
        return records, version, True

    async def changes(self, cursor: str | None) -> Changes:
        since = int(cursor) if cursor and cursor.isdigit() else 0
        collections, _, _ = await self._pages("collections", {})
        by_key = {c["data"]["key"]: c["data"] for c in collections}
        paths = {key: _path(by_key, key) for key in by_key}
        relist = since == 0 or any(int(c["data"].get("version", 0)) > since for c in collections)
        params = {"includeTrashed": 1} | ({} if relist else {"since": since})
        headers = None if relist else {"If-Modified-Since-Version": str(since)}
        records, version, changed = await self._pages("items", params, headers)
        if not changed:
            return Changes(items=[], cursor=cursor)
        data = {r["data"]["key"]: r["data"] for r in records}
        if not relist:  # a changed parent relists its children; a changed child needs its parent
            for key, item in list(data.items()):
                if item.get("itemType") not in ("attachment", "note"):
                    children, _, _ = await self._pages(f"items/{key}/children", {})
                    data.update({c["data"]["key"]: c["data"] for c in children})
            for item in list(data.values()):
                parent = item.get("parentItem")
                if parent and parent not in data:
                    response = await self.client.get(
                        f"/{self.library}/items/{parent}", ok=(200, 404)
                    )
                    if response.status_code == 200:
                        data[parent] = response.json()["data"]
        deleted = {k for k, d in data.items() if d.get("deleted")}
        if since and not relist:
            response = await self.client.get(f"/{self.library}/deleted", params={"since": since})
            deleted |= {str(k) for k in response.json().get("items", [])}
        items = []
        for key, item in data.items():
            parent = data.get(item.get("parentItem") or "")
            if key in deleted or (parent is not None and parent["key"] in deleted):
                deleted.add(key)
                continue
            mapped = map_item(item, parent, paths)
            if mapped is not None:
                items.append(mapped)
                if item.get("itemType") == "note":
                    self._notes[key] = str(item.get("note", "")).encode()
        top = str(version if version is not None else since)
        return Changes(items=items, deleted=sorted(deleted), cursor=top, complete=relist)

    async def fetch(self, item: RemoteItem) -> bytes:
        if item.ref in self._notes:
            return self._notes[item.ref]
        response = await self.client.get(f"/{self.library}/items/{item.ref}/file", ok=(200, 404))
        if response.status_code == 404:
            raise ItemFailed("unreachable", f"{item.name} has no file in the Zotero library")
        return response.content


def _version(response: Any) -> int | None:
    value = response.headers.get("Last-Modified-Version", "")
    return int(value) if value.isdigit() else None


def _path(collections: dict[str, dict[str, Any]], key: str) -> str:
    names: list[str] = []
    seen: set[str] = set()
    current: Any = key
    while current and current in collections and current not in seen:
        seen.add(current)
        names.append(str(collections[current].get("name", "")).replace("/", "∕"))
        current = collections[current].get("parentCollection")
    return "/" + "/".join(reversed(names))
