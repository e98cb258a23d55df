"""`Client`: the blocking face of `AsyncClient` (the public face is client/sdk.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from client.aio import DEFAULT_TIMEOUT, AsyncClient, Progress, StreamItem
from client.models import (
    Answer,
    Book,
    Chapter,
    ChapterState,
    EventPage,
    HistoryEntry,
    HistoryPage,
    LLMSettings,
    LogEvent,
    Member,
    Message,
    Proof,
    SearchHit,
    ServerInfo,
    Session,
    Source,
    Thread,
    Token,
    User,
    VerifyResult,
)

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """RagStack over HTTP, blocking: the same calls as `AsyncClient`, each run to completion on
    a private event loop. Not for use inside a running event loop (use `AsyncClient` there)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._runner = asyncio.Runner()
        # httpx binds its pool to the loop it first runs on: always the private one.
        self.aio = AsyncClient(url, token, timeout=timeout, transport=transport)

    @property
    def url(self) -> str:
        return self.aio.url

    @property
    def token(self) -> str | None:
        return self.aio.token

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and the private loop."""
        try:
            self._runner.run(self.aio.aclose())
        finally:
            self._runner.close()

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(call)

    def _iterate(self, stream: AsyncIterator[T]) -> Iterator[T]:
        while True:
            try:
                yield self._runner.run(anext(stream))  # type: ignore[arg-type]
            except StopAsyncIteration:
                return

    def health(self) -> dict[str, Any]:
        return self._run(self.aio.health())

    def info(self) -> ServerInfo:
        return self._run(self.aio.info())

    def signup(self, email: str, password: str, name: str = "") -> Session:
        return self._run(self.aio.signup(email, password, name))

    def login(self, email: str, password: str, *, token_name: str = "cli") -> Session:
        return self._run(self.aio.login(email, password, token_name=token_name))

    def me(self) -> User:
        return self._run(self.aio.me())

    def create_token(self, name: str = "", *, ttl_s: int | None = None) -> Token:
        return self._run(self.aio.create_token(name, ttl_s=ttl_s))

    def tokens(self) -> list[Token]:
        return self._run(self.aio.tokens())

    def revoke_token(self, token_id: str) -> None:
        self._run(self.aio.revoke_token(token_id))

    def books(self) -> list[Book]:
        return self._run(self.aio.books())

    def create_book(self, name: str) -> Book:
        return self._run(self.aio.create_book(name))

    def book(self, book: str) -> Book:
        return self._run(self.aio.book(book))

    def update_book(self, book: str, *, external_sharing: bool | None = None) -> Book:
        return self._run(self.aio.update_book(book, external_sharing=external_sharing))

    def book_llm(self, book: str) -> LLMSettings:
        return self._run(self.aio.book_llm(book))

    def set_book_llm(
        self,
        book: str,
        kind: str,
        *,
        model: str = "",
        base_url: str | None = None,
        api_key: str | None = None,
    ) -> LLMSettings:
        call = self.aio.set_book_llm(book, kind, model=model, base_url=base_url, api_key=api_key)
        return self._run(call)

    def clear_book_llm(self, book: str) -> LLMSettings:
        return self._run(self.aio.clear_book_llm(book))

    def members(self, book: str) -> list[Member]:
        return self._run(self.aio.members(book))

    def invite(self, book: str, email: str, *, role: str = "member") -> Member:
        return self._run(self.aio.invite(book, email, role=role))

    def change_role(self, book: str, user: str, role: str) -> Member:
        return self._run(self.aio.change_role(book, user, role))

    def remove_member(self, book: str, user: str) -> None:
        self._run(self.aio.remove_member(book, user))

    def chapters(self, book: str) -> list[Chapter]:
        return self._run(self.aio.chapters(book))

    def create_chapter(self, book: str, title: str, *, assignee: str | None = None) -> Chapter:
        return self._run(self.aio.create_chapter(book, title, assignee=assignee))

    def chapter(self, chapter: str) -> Chapter:
        return self._run(self.aio.chapter(chapter))

    def rename_chapter(self, chapter: str, title: str) -> Chapter:
        return self._run(self.aio.rename_chapter(chapter, title))

    def reassign_chapter(self, chapter: str, assignee: str) -> Chapter:
        return self._run(self.aio.reassign_chapter(chapter, assignee))

    def delete_chapter(self, chapter: str) -> None:
        self._run(self.aio.delete_chapter(chapter))

    def sources(self, chapter: str, *, tags: list[str] | None = None) -> list[Source]:
        return self._run(self.aio.sources(chapter, tags=tags))

    def source(self, chapter: str, source: str) -> Source:
        return self._run(self.aio.source(chapter, source))

    def source_text(self, chapter: str, source: str) -> str:
        return self._run(self.aio.source_text(chapter, source))

    def upload(
        self,
        chapter: str,
        file: Path | bytes,
        *,
        name: str | None = None,
        media_type: str | None = None,
        tags: list[str] | None = None,
        progress: Progress | None = None,
        wait: bool = False,
        wait_timeout: float = 300.0,
    ) -> Source:
        call = self.aio.upload(
            chapter,
            file,
            name=name,
            media_type=media_type,
            tags=tags,
            progress=progress,
            wait=wait,
            wait_timeout=wait_timeout,
        )
        return self._run(call)

    def add_url(
        self,
        chapter: str,
        url: str,
        *,
        tags: list[str] | None = None,
        wait: bool = False,
        wait_timeout: float = 300.0,
    ) -> Source:
        call = self.aio.add_url(chapter, url, tags=tags, wait=wait, wait_timeout=wait_timeout)
        return self._run(call)

    def wait_for_source(self, chapter: str, source: str, *, within: float = 300.0) -> Source:
        return self._run(self.aio.wait_for_source(chapter, source, within=within))

    def retag_source(self, chapter: str, source: str, tags: list[str]) -> Source:
        return self._run(self.aio.retag_source(chapter, source, tags))

    def remove_source(self, chapter: str, source: str) -> None:
        self._run(self.aio.remove_source(chapter, source))

    def search(
        self, chapter: str, query: str, *, k: int = 8, tags: list[str] | None = None
    ) -> list[SearchHit]:
        return self._run(self.aio.search(chapter, query, k=k, tags=tags))

    def ask(
        self, chapter: str, question: str, *, thread: str | None = None, k: int | None = None
    ) -> Answer:
        return self._run(self.aio.ask(chapter, question, thread=thread, k=k))

    def ask_stream(
        self, chapter: str, question: str, *, thread: str | None = None, k: int | None = None
    ) -> Iterator[StreamItem]:
        return self._iterate(self.aio.ask_stream(chapter, question, thread=thread, k=k))

    def threads(self, chapter: str) -> list[Thread]:
        return self._run(self.aio.threads(chapter))

    def create_thread(self, chapter: str, title: str = "") -> Thread:
        return self._run(self.aio.create_thread(chapter, title))

    def messages(self, chapter: str, thread: str) -> list[Message]:
        return self._run(self.aio.messages(chapter, thread))

    def post_message(self, chapter: str, thread: str, text: str, *, k: int | None = None) -> Answer:
        return self._run(self.aio.post_message(chapter, thread, text, k=k))

    def events(self, chapter: str, *, after: int = 0, limit: int | None = None) -> EventPage:
        return self._run(self.aio.events(chapter, after=after, limit=limit))

    def iter_events(
        self, chapter: str, *, after: int = 0, until: int | None = None
    ) -> Iterator[LogEvent]:
        return self._iterate(self.aio.iter_events(chapter, after=after, until=until))

    def verify_here(self, chapter: str) -> VerifyResult:
        return self._run(self.aio.verify_here(chapter))

    def history(self, chapter: str, *, after: int = 0, limit: int | None = None) -> HistoryPage:
        return self._run(self.aio.history(chapter, after=after, limit=limit))

    def iter_history(
        self, chapter: str, *, after: int = 0, limit: int | None = None
    ) -> Iterator[HistoryEntry]:
        return self._iterate(self.aio.iter_history(chapter, after=after, limit=limit))

    def verify(self, chapter: str) -> VerifyResult:
        return self._run(self.aio.verify(chapter))

    def state(
        self,
        chapter: str,
        *,
        rev: int | None = None,
        at: int | None = None,
        include_removed: bool = False,
        messages: bool = False,
    ) -> ChapterState:
        call = self.aio.state(
            chapter, rev=rev, at=at, include_removed=include_removed, messages=messages
        )
        return self._run(call)

    def proof(self, chapter: str, rev: int, *, size: int | None = None) -> Proof:
        return self._run(self.aio.proof(chapter, rev, size=size))
