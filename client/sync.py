"""`Client`: the blocking face of `AsyncClient` (the public face is client/sdk.py).

Each call is the async one run to completion on a private event loop, made by `_blocking` (or
`_iterating`, for the calls that stream) from the async method itself: one definition per call,
so the two faces cannot drift, and a type checker sees the async method's parameters on both.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import httpx

from client.aio import DEFAULT_TIMEOUT, AsyncClient
from client.aio_guest import AsyncShareClient

__all__ = ["Client", "ShareClient"]

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A", AsyncClient, AsyncShareClient)


class _Blocking:
    """What `_blocking` and `_iterating` need of a blocking face: its async one, its loop."""

    aio: Any
    _runner: asyncio.Runner

    @property
    def url(self) -> str:
        return self.aio.url  # type: ignore[no-any-return]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and the private loop."""
        try:
            self._runner.run(self.aio.aclose())
        finally:
            self._runner.close()

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine over `aio` (e.g. a helper taking the AsyncClient) to completion on
        this client's loop, the one its connection pool is bound to."""
        return self._runner.run(call)

    def _iterate(self, stream: AsyncIterator[T]) -> Iterator[T]:
        while True:
            try:
                yield self._runner.run(anext(stream))  # type: ignore[arg-type]
            except StopAsyncIteration:
                return


def _blocking(
    call: Callable[Concatenate[A, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[_Blocking, P], T]:
    """`Client.<name>` from `AsyncClient.<name>` (or `ShareClient`'s from `AsyncShareClient`'s):
    same parameters and docstring, blocking."""

    @functools.wraps(call)
    def run(self: _Blocking, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._runner.run(call(self.aio, *args, **kwargs))

    return run


def _iterating(
    call: Callable[Concatenate[A, P], AsyncIterator[T]],
) -> Callable[Concatenate[_Blocking, P], Iterator[T]]:
    """`Client.<name>` from an async generator `AsyncClient.<name>`: a plain iterator."""

    @functools.wraps(call)
    def run(self: _Blocking, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self._iterate(call(self.aio, *args, **kwargs))

    return run


class Client(_Blocking):
    """RagStack over HTTP, blocking: the same calls as `AsyncClient`, each run to completion on
    a private event loop. Not for use inside a running event loop (use `AsyncClient` there)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_for: float = 30.0,
    ) -> None:
        self._runner = asyncio.Runner()
        # httpx binds its pool to the loop it first runs on: always the private one.
        self.aio = AsyncClient(
            url, token, timeout=timeout, transport=transport, retry_for=retry_for
        )

    @property
    def token(self) -> str | None:
        return self.aio.token

    # --- server and accounts ---
    fetch_bytes = _blocking(AsyncClient.fetch_bytes)
    health = _blocking(AsyncClient.health)
    info = _blocking(AsyncClient.info)
    signup = _blocking(AsyncClient.signup)
    login = _blocking(AsyncClient.login)
    me = _blocking(AsyncClient.me)
    create_token = _blocking(AsyncClient.create_token)
    tokens = _blocking(AsyncClient.tokens)
    revoke_token = _blocking(AsyncClient.revoke_token)

    # --- books and members ---
    books = _blocking(AsyncClient.books)
    create_book = _blocking(AsyncClient.create_book)
    book = _blocking(AsyncClient.book)
    update_book = _blocking(AsyncClient.update_book)
    book_llm = _blocking(AsyncClient.book_llm)
    set_book_llm = _blocking(AsyncClient.set_book_llm)
    clear_book_llm = _blocking(AsyncClient.clear_book_llm)
    book_rerank = _blocking(AsyncClient.book_rerank)
    set_book_rerank = _blocking(AsyncClient.set_book_rerank)
    clear_book_rerank = _blocking(AsyncClient.clear_book_rerank)
    members = _blocking(AsyncClient.members)
    invite = _blocking(AsyncClient.invite)
    change_role = _blocking(AsyncClient.change_role)
    remove_member = _blocking(AsyncClient.remove_member)

    # --- chapters ---
    chapters = _blocking(AsyncClient.chapters)
    create_chapter = _blocking(AsyncClient.create_chapter)
    chapter = _blocking(AsyncClient.chapter)
    rename_chapter = _blocking(AsyncClient.rename_chapter)
    reassign_chapter = _blocking(AsyncClient.reassign_chapter)
    delete_chapter = _blocking(AsyncClient.delete_chapter)

    # --- sources ---
    sources = _blocking(AsyncClient.sources)
    source = _blocking(AsyncClient.source)
    source_text = _blocking(AsyncClient.source_text)
    upload = _blocking(AsyncClient.upload)
    add_url = _blocking(AsyncClient.add_url)
    wait_for_source = _blocking(AsyncClient.wait_for_source)
    retag_source = _blocking(AsyncClient.retag_source)
    remove_source = _blocking(AsyncClient.remove_source)
    search = _blocking(AsyncClient.search)

    # --- chat ---
    ask = _blocking(AsyncClient.ask)
    ask_stream = _iterating(AsyncClient.ask_stream)
    threads = _blocking(AsyncClient.threads)
    create_thread = _blocking(AsyncClient.create_thread)
    messages = _blocking(AsyncClient.messages)
    post_message = _blocking(AsyncClient.post_message)

    # --- audit ---
    events = _blocking(AsyncClient.events)
    iter_events = _iterating(AsyncClient.iter_events)
    verify_here = _blocking(AsyncClient.verify_here)
    history = _blocking(AsyncClient.history)
    iter_history = _iterating(AsyncClient.iter_history)
    verify = _blocking(AsyncClient.verify)
    state = _blocking(AsyncClient.state)
    proof = _blocking(AsyncClient.proof)
    diff = _blocking(AsyncClient.diff)
    provenance = _blocking(AsyncClient.provenance)
    book_keys = _blocking(AsyncClient.book_keys)
    export_chapter = _blocking(AsyncClient.export_chapter)
    export_me = _blocking(AsyncClient.export_me)
    erase_me = _blocking(AsyncClient.erase_me)
    erase_source = _blocking(AsyncClient.erase_source)
    migrate_chapter = _blocking(AsyncClient.migrate_chapter)
    import_archive = _blocking(AsyncClient.import_archive)
    consistency = _blocking(AsyncClient.consistency)

    # --- shares ---
    share = _blocking(AsyncClient.share)
    shares = _blocking(AsyncClient.shares)
    revoke_share = _blocking(AsyncClient.revoke_share)
    accept_share = _blocking(AsyncClient.accept_share)
    connect_share = _blocking(AsyncClient.connect_share)

    # --- connectors ---
    create_connector = _blocking(AsyncClient.create_connector)
    connectors = _blocking(AsyncClient.connectors)
    connector = _blocking(AsyncClient.connector)
    sync_connector = _blocking(AsyncClient.sync_connector)
    delete_connector = _blocking(AsyncClient.delete_connector)
    connector_items = _blocking(AsyncClient.connector_items)
    push_connector_items = _blocking(AsyncClient.push_connector_items)
    oauth_providers = _blocking(AsyncClient.oauth_providers)
    start_oauth = _blocking(AsyncClient.start_oauth)
    start_oauth_device = _blocking(AsyncClient.start_oauth_device)
    poll_oauth = _blocking(AsyncClient.poll_oauth)
    connect_oauth = _blocking(AsyncClient.connect_oauth)


class ShareClient(_Blocking):
    """A share's guest routes on the owner's server, blocking (`AsyncShareClient`'s calls)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._runner = asyncio.Runner()
        self.aio = AsyncShareClient(url, token, timeout=timeout, transport=transport)

    connect = _blocking(AsyncShareClient.connect)
    shared_sources = _blocking(AsyncShareClient.shared_sources)
    add_to_share = _blocking(AsyncShareClient.add_to_share)
    ask_share = _blocking(AsyncShareClient.ask_share)
    ask_share_stream = _iterating(AsyncShareClient.ask_share_stream)
    feed = _blocking(AsyncShareClient.feed)
    share_blob = _blocking(AsyncShareClient.share_blob)
