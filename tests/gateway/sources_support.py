"""Helpers for the sources tests (test_gateway_sources.py, test_gateway_webpages.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx


async def new_chapter(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    book = await client.post("/v1/books", json={"name": "Library"}, headers=headers)
    assert book.status_code == 201, book.text
    made = await client.post(
        f"/v1/books/{book.json()['id']}/chapters", json={"title": "Notes"}, headers=headers
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def sources_url(chapter: str, *rest: str) -> str:
    return "/".join([f"/v1/chapters/{chapter}/sources", *rest])


async def upload(
    client: httpx.AsyncClient,
    chapter: str,
    headers: dict[str, str],
    files: list[tuple[str, bytes, str]],
    *,
    tags: list[str] | None = None,
    wait: bool = False,
) -> httpx.Response:
    return await client.post(
        sources_url(chapter),
        params={"wait": "true"} if wait else None,
        files=[("file", f) for f in files],
        data={"tags": tags} if tags else None,
        headers=headers,
    )


async def until_settled(
    client: httpx.AsyncClient, chapter: str, source: str, headers: dict[str, str]
) -> dict:
    """Poll a source until it leaves `pending`."""
    for _ in range(600):
        got = await client.get(sources_url(chapter, source), headers=headers)
        assert got.status_code == 200, got.text
        if got.json()["status"] != "pending":
            return got.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{source} is still pending")


async def search(
    client: httpx.AsyncClient, chapter: str, headers: dict[str, str], query: str, **extra: object
) -> dict:
    found = await client.post(
        f"/v1/chapters/{chapter}/search", json={"query": query, **extra}, headers=headers
    )
    assert found.status_code == 200, found.text
    return found.json()


def stored_files(blob_root: Path) -> list[Path]:
    return [p for p in blob_root.rglob("*") if p.is_file()]
