"""Helpers for the chat and LLM-settings tests: a signed-up owner with a book, a chapter holding one
text source (indexed), a reader of server-sent events, and the chapter's chat events."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
from gateway_support import bearer, sign_up

from app.services import Services
from events import Envelope, MessagePosted, ThreadStarted
from projections.audit import read_envelopes
from tests.projections.pipeline_support import settle

ANIMALS = (
    "# Owls\n\nThe snowy owl nests on the open tundra of the Arctic and hunts lemmings.\n\n"
    "# Bees\n\nHoney bees dance to tell their sisters where the flowers are.\n"
)


@dataclass
class Desk:
    """An owner's book with one chapter that holds `animals.md`."""

    token: str
    user: str
    book: str
    chapter: str
    source: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


async def open_desk(
    client: httpx.AsyncClient, services: Services, email: str = "ada@example.org"
) -> Desk:
    """Sign up, make a book and a chapter, upload the source and wait until it is searchable."""
    token = await sign_up(client, email=email)
    me = (await client.get("/v1/me", headers=bearer(token))).json()
    book = await client.post("/v1/books", json={"name": "Zoo"}, headers=bearer(token))
    assert book.status_code == 201, book.text
    chapter = await client.post(
        f"/v1/books/{book.json()['id']}/chapters", json={"title": "Animals"}, headers=bearer(token)
    )
    assert chapter.status_code == 201, chapter.text
    chapter_id = chapter.json()["id"]
    uploaded = await client.post(
        f"/v1/chapters/{chapter_id}/sources",
        files={"file": ("animals.md", ANIMALS.encode(), "text/markdown")},
        headers=bearer(token),
    )
    assert uploaded.status_code == 201, uploaded.text
    # Searchable once every projection has folded the extraction.
    await settle(services.read, chapter_id)
    return Desk(
        token=token,
        user=me["id"],
        book=book.json()["id"],
        chapter=chapter_id,
        source=uploaded.json()["sources"][0]["id"],
    )


async def put_llm(client: httpx.AsyncClient, desk: Desk, **settings: object) -> dict:
    """PUT the book's LLM settings as its owner; the answer's JSON."""
    response = await client.put(f"/v1/books/{desk.book}/llm", json=settings, headers=desk.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def new_thread(client: httpx.AsyncClient, desk: Desk, title: str = "") -> str:
    response = await client.post(
        f"/v1/chapters/{desk.chapter}/threads", json={"title": title}, headers=desk.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def read_events(text: str) -> list[tuple[str, dict]]:
    """Server-sent events as (event, decoded JSON data), in order."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        events.append((name, json.loads("\n".join(data))))
    return events


async def chat_events(services: Services, chapter: str) -> list[Envelope]:
    """The chapter's ThreadStarted and MessagePosted events, in log order, opened (their
    personal fields are sealed in the log, engine/personal.py)."""
    found = []
    async for _, envelope in read_envelopes(services.logs.chapter(chapter)):
        if isinstance(envelope.body, MessagePosted | ThreadStarted):
            found.append(envelope)
    return found
