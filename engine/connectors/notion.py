"""Notion: the pages an integration is shared with, by `last_edited_time`.

- `POST /v1/search` (`filter: object = page`, sorted by `last_edited_time` descending, paginated
  with `start_cursor` / `has_more` / `next_cursor`) lists the pages: those edited at or after
  the cursor (the newest `last_edited_time` seen) are listed as changed, and every live page's id
  is kept, so held pages no longer listed (deleted, archived, unshared) are removed;
- `GET /v1/blocks/<id>/children` (paginated, nested blocks read to `MAX_DEPTH`) gives a changed
  page's content, fetched only for pages that changed.

Auth: the integration's secret as a Bearer token, with `Notion-Version`. Each page is a Markdown
source: its title, its creation year as metadata, its multi-select and select values as tags,
`type:page`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.connectors import Changes, ConnectorError, ItemFailed, RemoteItem
from engine.connectors.http import ServiceClient
from events import SourceMeta

__all__ = ["DEFAULT_BASE_URL", "NOTION_VERSION", "Notion"]

DEFAULT_BASE_URL = "https://api.notion.com"
NOTION_VERSION = "2022-06-28"
MAX_DEPTH = 3
"""How deep nested blocks (toggles, list items' children) are read."""
_HEADINGS = {"heading_1": "# ", "heading_2": "## ", "heading_3": "### "}
_PREFIX = {"bulleted_list_item": "- ", "numbered_list_item": "1. ", "to_do": "- [ ] ",
           "quote": "> ", "callout": "> "}  # fmt: skip


def _plain(rich: Any) -> str:
    return "".join(str(r.get("plain_text", "")) for r in rich if isinstance(r, dict)) if isinstance(rich, list) else ""  # fmt: skip


def _title(page: dict[str, Any]) -> str:
    for prop in (page.get("properties") or {}).values():
        if isinstance(prop, dict) and prop.get("type") == "title":
            return _plain(prop.get("title")).strip()
    return ""


def _tags(page: dict[str, Any]) -> list[str]:
    tags = ["type:page"]
    for prop in (page.get("properties") or {}).values():
        if not isinstance(prop, dict):
            continue
        if prop.get("type") == "multi_select":
            tags += [str(o["name"]) for o in prop.get("multi_select") or [] if o.get("name")]
        elif prop.get("type") == "select" and isinstance(prop.get("select"), dict):
            tags.append(str(prop["select"].get("name", "")))
    return [t for t in tags if t.strip()]


class Notion:
    """The Connector over the pages a Notion integration can read."""

    kind: ClassVar[str] = "notion"

    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self.known: Mapping[str, str] = {}

    def with_known(self, known: Mapping[str, str]) -> Notion:
        """The refs the chapter holds now: refs no longer listed are deletions."""
        self.known = dict(known)
        return self

    async def changes(self, cursor: str | None) -> Changes:
        body: dict[str, Any] = {
            "filter": {"property": "object", "value": "page"},
            "sort": {"direction": "descending", "timestamp": "last_edited_time"},
            "page_size": 100,
        }
        pages: list[dict[str, Any]] = []
        while True:
            answer = (await self.client.post("/v1/search", json=body)).json()
            if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
                raise ConnectorError("Notion answered a search with something else")
            pages += [p for p in answer["results"] if isinstance(p, dict) and p.get("id")]
            if not answer.get("has_more") or not answer.get("next_cursor"):
                break
            body["start_cursor"] = answer["next_cursor"]
        live = [p for p in pages if not p.get("archived") and not p.get("in_trash")]
        changed = [
            p for p in live if cursor is None or str(p.get("last_edited_time", "")) >= cursor
        ]
        stamps = [str(p.get("last_edited_time", "")) for p in live]
        newest = max([s for s in stamps if s] + ([cursor] if cursor else []), default=None)
        deleted = sorted(set(self.known) - {str(p["id"]) for p in live})
        return Changes(items=[self.map(p) for p in changed], deleted=deleted, cursor=newest)

    def map(self, page: dict[str, Any]) -> RemoteItem:
        """A page as a RemoteItem (its content is fetched by `fetch`)."""
        title = _title(page) or "Untitled"
        created = str(page.get("created_time", ""))
        year = int(created[:4]) if created[:4].isdigit() else None
        return RemoteItem(ref=str(page["id"]), name=f"{title}.md", media_type="text/markdown",
                          tags=_tags(page), meta=SourceMeta(title=title, year=year))  # fmt: skip

    async def _blocks(self, block: str, depth: int, lines: list[str]) -> None:
        params: dict[str, Any] = {"page_size": 100}
        while True:
            response = await self.client.get(f"/v1/blocks/{block}/children", params=params,
                                             ok=(200, 404))  # fmt: skip
            if response.status_code == 404:
                raise ItemFailed("unreachable", "the page is no longer shared with the integration")
            answer = response.json()
            for child in answer.get("results", []):
                kind = str(child.get("type", ""))
                content = child.get(kind) if isinstance(child.get(kind), dict) else {}
                text = _plain(content.get("rich_text")).strip()
                if kind == "code":
                    text = f"```\n{text}\n```"
                if text:
                    lines.append("  " * depth + _HEADINGS.get(kind, _PREFIX.get(kind, "")) + text)
                if child.get("has_children") and depth + 1 < MAX_DEPTH:
                    await self._blocks(str(child["id"]), depth + 1, lines)
            if not answer.get("has_more") or not answer.get("next_cursor"):
                return
            params["start_cursor"] = answer["next_cursor"]

    async def fetch(self, item: RemoteItem) -> bytes:
        title = item.meta.title if item.meta else item.name
        lines = [f"# {title}"]
        await self._blocks(item.ref, 0, lines)
        return ("\n\n".join(lines) + "\n").encode()
