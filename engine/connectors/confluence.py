"""Confluence (Cloud or Data Center): the pages of one space, by CQL `lastmodified`.

- `GET <base>/rest/api/content/search?cql=space="KEY" and type=page and lastmodified >= "…"`
  with `expand=body.storage,version,history,metadata.labels,ancestors` lists what changed since
  the cursor (the newest `version.when` seen, minute precision as CQL has it: pages of that
  minute are listed again and append nothing); pagination follows `_links.next`;
- every sync also lists the space's page ids (no expansion): held refs no longer there were
  deleted or archived.

Auth: a Cloud API token with the account's e-mail (HTTP Basic), or a Data Center personal access
token (Bearer). Each page becomes an HTML source: its title, creator and year as metadata, its
labels as tags, `space:<KEY>` and its ancestors as `collection:/Parent/Child`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import rust_core
from engine.connectors import Changes, ConnectorError, ItemFailed, RemoteItem
from engine.connectors.http import ServiceClient
from engine.rules import Invalid
from events import SourceMeta

__all__ = ["Confluence", "check_space"]

PAGE = 50
_SPACE = re.compile(r"[A-Za-z0-9_~-]{1,255}")
_YEAR = re.compile(r"^(\d{4})")
_EXPAND = "body.storage,version,history,metadata.labels,ancestors"


def check_space(space: str) -> str:
    """A Confluence space key; Invalid otherwise (it is quoted into CQL)."""
    space = space.strip()
    if not _SPACE.fullmatch(space):
        raise Invalid(f"a Confluence space key is letters, digits, _ ~ or -, not {space!r}")
    return space


def _cql_time(when: str) -> str:
    # "2026-03-01T10:15:30.000Z" -> "2026-03-01 10:15" (CQL takes minutes)
    return when[:16].replace("T", " ")


class Confluence:
    """The Connector over a Confluence space."""

    kind: ClassVar[str] = "confluence"

    def __init__(self, client: ServiceClient, space: str) -> None:
        self.client = client
        self.space = check_space(space)
        self.known: Mapping[str, str] = {}
        self._pages: dict[str, bytes] = {}

    def with_known(self, known: Mapping[str, str]) -> Confluence:
        """The refs the chapter holds now (ref → blob): refs no longer in the space are deleted."""
        self.known = dict(known)
        return self

    async def _search(self, cql: str, expand: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        url: str | None = "/rest/api/content/search"
        params: dict[str, Any] | None = {"cql": cql, "limit": PAGE}
        if expand:
            params["expand"] = expand
        while url is not None:
            response = await self.client.get(url, params=params)
            body = response.json()
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise ConnectorError("Confluence answered a search with something else")
            found += [r for r in body["results"] if isinstance(r, dict) and "id" in r]
            nxt = (body.get("_links") or {}).get("next")
            url, params = (nxt, None) if nxt else (None, None)
        return found

    async def changes(self, cursor: str | None) -> Changes:
        scope = f'space = "{self.space}" and type = page'
        cql = scope + (f' and lastmodified >= "{_cql_time(cursor)}"' if cursor else "")
        pages = await self._search(cql + " order by lastmodified", _EXPAND)
        live = {str(p["id"]) for p in await self._search(scope, None)}
        items = [self.map(page) for page in pages if str(page["id"]) in live]
        stamps = [str((p.get("version") or {}).get("when", "")) for p in pages]
        newest = max([s for s in stamps if s] + ([cursor] if cursor else []), default=None)
        deleted = sorted(set(self.known) - live)
        return Changes(items=items, deleted=deleted, cursor=newest)

    def map(self, page: dict[str, Any]) -> RemoteItem:
        """A page as a RemoteItem (its HTML kept for `fetch`)."""
        ref, title = str(page["id"]), str(page.get("title", "")) or "Untitled"
        history = page.get("history") or {}
        creator = str((history.get("createdBy") or {}).get("displayName", "")).strip()
        year = _YEAR.match(str(history.get("createdDate", "")))
        labels = ((page.get("metadata") or {}).get("labels") or {}).get("results", [])
        tags = [
            str(label["name"]) for label in labels if isinstance(label, dict) and label.get("name")
        ]
        tags += [f"space:{self.space}", "type:page"]
        ancestors = [str(a.get("title", "")).replace("/", "∕") for a in page.get("ancestors", [])
                     if isinstance(a, dict)]  # fmt: skip
        if ancestors:
            tags.append("collection:/" + "/".join(ancestors))
        storage = str(((page.get("body") or {}).get("storage") or {}).get("value", ""))
        data = (f"<html><head><title>{html.escape(title)}</title></head>"
                f"<body><h1>{html.escape(title)}</h1>{storage}</body></html>").encode()  # fmt: skip
        self._pages[ref] = data
        meta = SourceMeta(title=title, authors=[creator] if creator else [],
                          year=int(year.group(1)) if year else None)  # fmt: skip
        return RemoteItem(ref=ref, name=f"{title}.html", media_type="text/html", tags=tags,
                          meta=meta, blob=rust_core.hash(data).hex())  # fmt: skip

    async def fetch(self, item: RemoteItem) -> bytes:
        data = self._pages.get(item.ref)
        if data is None:
            raise ItemFailed("unreachable", f"{item.name} was not in the listing")
        return data
