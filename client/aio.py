"""`AsyncClient`: typed async calls over RagStack's HTTP API (the public face is client/sdk.py).

One method per route keeps it past 400 lines; splitting the routes across modules would only
scatter one class.
"""

from __future__ import annotations

import asyncio
import io
import json
import mimetypes
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from client.aio_archive import ArchiveCalls
from client.aio_audit import AuditCalls
from client.aio_connectors import ConnectorCalls
from client.aio_erasure import ErasureCalls
from client.aio_shares import ShareCalls
from client.errors import ApiError, ServerUnreachable, error_from
from client.models import (
    Answer,
    Book,
    Chapter,
    LLMSettings,
    Member,
    Message,
    RerankSettings,
    SearchHit,
    ServerInfo,
    Session,
    Source,
    Thread,
    Token,
    User,
)
from client.sse import iter_sse
from client.wire import (
    Progress,
    ProgressReader,
    StreamItem,
    convert,
    items,
    question_body,
    stream_item,
)

__all__ = ["DEFAULT_TIMEOUT", "AsyncClient", "Progress", "StreamItem"]

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
SLOW_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
"""For answers that take long by nature: an LLM writing, ingest settling, a page being fetched."""


IDEMPOTENCY_HEADER = "Idempotency-Key"
"""Names one logical write; the server stores a retried one once (gateway/idempotency.py)."""
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_RETRIED = (
    # The request never reached the server, or the connection died before an answer: safe to
    # send again (a write carries its idempotency key). A read timeout is not among them: the
    # server may still be working, and waiting again would double a long wait.
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)


_RETRIED_CODES = frozenset(
    {"log_unavailable", "account_store_unavailable", "blob_store_unavailable"}
)


def _store_unavailable(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    try:
        return response.json()["error"]["code"] in _RETRIED_CODES
    except (ValueError, KeyError, TypeError):
        return False


class AsyncClient(AuditCalls, ArchiveCalls, ShareCalls, ConnectorCalls, ErasureCalls):
    """RagStack over HTTP, async. Use as `async with`, or call `aclose()`."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        retry_for: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.retry_for = retry_for
        """How long a request is retried while the server cannot be reached (0: never)."""
        self.token = token
        self._extra_headers = dict(headers or {})
        """Sent with every request (a guest's `X-Share-Token`: client/aio_shares.py)."""
        self._http = httpx.AsyncClient(
            base_url=self.url, timeout=timeout, transport=transport, follow_redirects=False
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # --- plumbing ---

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(self._extra_headers)
        headers.update(extra or {})
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Any = None,
        data: Any = None,
        slow: bool = False,
    ) -> Any:
        """Send one request; the decoded JSON answer (None for 204), or `ApiError`.

        `slow` allows a long wait for the answer (an LLM writing, ingest settling). A write
        carries an `Idempotency-Key` of its own, and the request is sent again while the server
        cannot be reached, drops the connection or answers 503 (a restart, a failover), for up
        to `retry_for` seconds: the key makes a write that did land the first time answer with
        what it stored instead of storing it twice."""
        headers = self._headers()
        if method.upper() in _WRITES:
            headers.setdefault(IDEMPOTENCY_HEADER, uuid.uuid4().hex)
        deadline = time.monotonic() + self.retry_for
        pause = 0.1
        while True:
            try:
                response = await self._http.request(
                    method,
                    path,
                    json=json_body,
                    params={k: v for k, v in (params or {}).items() if v is not None},
                    files=files,
                    data=data,
                    headers=headers,
                    timeout=SLOW_TIMEOUT if slow else httpx.USE_CLIENT_DEFAULT,
                )
            except _RETRIED as exc:
                if time.monotonic() + pause > deadline:
                    raise self._transport_error(exc) from None
            except httpx.TransportError as exc:
                raise self._transport_error(exc) from None
            else:
                # The server is up but a store of its own is not (NATS restarting, a leader
                # being elected): as safe to send again as a lost connection. Not a provider's
                # 503: an LLM that is down is the caller's to know at once.
                if not _store_unavailable(response) or time.monotonic() + pause > deadline:
                    break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)
        if response.status_code >= 400:
            raise error_from(response, response.content)
        if response.status_code == 204 or not response.content:
            return None
        if "json" not in response.headers.get("content-type", ""):
            return response.text
        return response.json()

    async def fetch_bytes(self, path: str, *, params: Mapping[str, Any] | None = None) -> bytes:
        """GET `path`; the answer's bytes as sent (a blob, or JSON to decode with msgspec)."""
        try:
            response = await self._http.get(
                path,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers=self._headers({"Accept": "*/*"}),
            )
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        if response.status_code >= 400:
            raise error_from(response, response.content)
        return response.content

    def _transport_error(self, exc: httpx.TransportError) -> ApiError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return ApiError(0, "timeout", f"the server at {self.url} did not answer in time")
        return ServerUnreachable(self.url, str(exc) or type(exc).__name__)

    async def _typed(self, kind: type[T], method: str, path: str, **kwargs: Any) -> T:
        return convert(await self.request(method, path, **kwargs), kind)

    # --- server and accounts ---

    async def health(self) -> dict[str, Any]:
        """GET /health: the process answers."""
        return await self.request("GET", "/health")

    async def info(self) -> ServerInfo:
        """Version, features and limits (no token needed)."""
        return await self._typed(ServerInfo, "GET", "/v1/info")

    async def signup(self, email: str, password: str, name: str = "") -> Session:
        """Create an account; the session's token is used for later calls."""
        body = {"email": email, "password": password, "name": name}
        session = await self._typed(Session, "POST", "/v1/auth/signup", json_body=body)
        self.token = session.token
        return session

    async def login(self, email: str, password: str, *, token_name: str = "cli") -> Session:
        """Exchange an e-mail and password for a token; used for later calls."""
        body = {"email": email, "password": password, "token_name": token_name}
        session = await self._typed(Session, "POST", "/v1/auth/login", json_body=body)
        self.token = session.token
        return session

    async def me(self) -> User:
        """The calling user."""
        return await self._typed(User, "GET", "/v1/me")

    async def create_token(self, name: str = "", *, ttl_s: int | None = None) -> Token:
        """A named API token (shown once, in `Token.token`)."""
        body = {"name": name, "ttl_s": ttl_s}
        return await self._typed(Token, "POST", "/v1/auth/tokens", json_body=body)

    async def tokens(self) -> list[Token]:
        """The caller's API tokens."""
        return convert(items(await self.request("GET", "/v1/auth/tokens"), "tokens"), list[Token])

    async def revoke_token(self, token_id: str) -> None:
        """Revoke one of the caller's tokens (the current one: log out)."""
        await self.request("DELETE", f"/v1/auth/tokens/{token_id}")

    # --- books and members ---

    async def books(self) -> list[Book]:
        """The books the caller belongs to."""
        return convert(items(await self.request("GET", "/v1/books"), "books"), list[Book])

    async def create_book(self, name: str) -> Book:
        """A new book owned by the caller."""
        return await self._typed(Book, "POST", "/v1/books", json_body={"name": name})

    async def book(self, book: str) -> Book:
        """One book."""
        return await self._typed(Book, "GET", f"/v1/books/{book}")

    async def update_book(self, book: str, *, external_sharing: bool | None = None) -> Book:
        """Change a book's policy (owner and admins)."""
        body = {"external_sharing": external_sharing}
        return await self._typed(Book, "PATCH", f"/v1/books/{book}", json_body=body)

    async def book_llm(self, book: str) -> LLMSettings:
        """What answers the book's questions."""
        return await self._typed(LLMSettings, "GET", f"/v1/books/{book}/llm")

    async def set_book_llm(
        self,
        book: str,
        kind: str,
        *,
        model: str = "",
        base_url: str | None = None,
        api_key: str | None = None,
    ) -> LLMSettings:
        """Choose the book's LLM (owner and admins); the key is stored encrypted, never shown.
        Without `api_key` the stored key is kept."""
        body: dict[str, Any] = {"kind": kind, "model": model, "base_url": base_url}
        if api_key is not None:
            body["api_key"] = api_key
        return await self._typed(LLMSettings, "PUT", f"/v1/books/{book}/llm", json_body=body)

    async def clear_book_llm(self, book: str) -> LLMSettings:
        """Forget the book's LLM settings and key: the server's default answers again."""
        return await self._typed(LLMSettings, "DELETE", f"/v1/books/{book}/llm")

    async def book_rerank(self, book: str) -> RerankSettings:
        """Which rerank service reorders the book's retrieved passages."""
        return await self._typed(RerankSettings, "GET", f"/v1/books/{book}/rerank")

    async def set_book_rerank(
        self,
        book: str,
        kind: str,
        *,
        base_url: str | None = None,
        model: str = "",
        depth: int = 30,
        api_key: str | None = None,
    ) -> RerankSettings:
        """Choose the book's rerank service, cohere or jina at `base_url`, or none (owner and
        admins); the key is stored encrypted, never shown. Without `api_key` the stored key is
        kept (while kind and base_url stay the same)."""
        body: dict[str, Any] = {"kind": kind, "base_url": base_url, "model": model, "depth": depth}
        if api_key is not None:
            body["api_key"] = api_key
        return await self._typed(RerankSettings, "PUT", f"/v1/books/{book}/rerank", json_body=body)

    async def clear_book_rerank(self, book: str) -> RerankSettings:
        """Forget the book's rerank settings and key: the server's service applies again."""
        return await self._typed(RerankSettings, "DELETE", f"/v1/books/{book}/rerank")

    async def members(self, book: str) -> list[Member]:
        """A book's members (and open invitations)."""
        data = await self.request("GET", f"/v1/books/{book}/members")
        return convert(items(data, "members"), list[Member])

    async def invite(self, book: str, email: str, *, role: str = "member") -> Member:
        """Invite `email` to a book with `role` (admin or member)."""
        body = {"email": email, "role": role}
        return await self._typed(Member, "POST", f"/v1/books/{book}/members", json_body=body)

    async def change_role(self, book: str, user: str, role: str) -> Member:
        """Change a member's role."""
        path = f"/v1/books/{book}/members/{user}"
        return await self._typed(Member, "PATCH", path, json_body={"role": role})

    async def remove_member(self, book: str, user: str) -> None:
        """Remove a member (or leave, for oneself)."""
        await self.request("DELETE", f"/v1/books/{book}/members/{user}")

    # --- chapters ---

    async def chapters(self, book: str) -> list[Chapter]:
        """The chapters of a book the caller may see."""
        data = await self.request("GET", f"/v1/books/{book}/chapters")
        return convert(items(data, "chapters"), list[Chapter])

    async def create_chapter(
        self, book: str, title: str, *, assignee: str | None = None
    ) -> Chapter:
        """A new chapter in `book` (assigned to the caller unless an admin names someone)."""
        body: dict[str, Any] = {"title": title}
        if assignee is not None:
            body["assignee"] = assignee
        return await self._typed(Chapter, "POST", f"/v1/books/{book}/chapters", json_body=body)

    async def chapter(self, chapter: str) -> Chapter:
        """One chapter."""
        return await self._typed(Chapter, "GET", f"/v1/chapters/{chapter}")

    async def rename_chapter(self, chapter: str, title: str) -> Chapter:
        """Give a chapter a new title."""
        path = f"/v1/chapters/{chapter}"
        return await self._typed(Chapter, "PATCH", path, json_body={"title": title})

    async def reassign_chapter(self, chapter: str, assignee: str) -> Chapter:
        """Give a chapter to another member of its book (owner and admins)."""
        path = f"/v1/chapters/{chapter}"
        return await self._typed(Chapter, "PATCH", path, json_body={"assignee": assignee})

    async def delete_chapter(self, chapter: str) -> None:
        """Take a chapter out of its book (its log stays for audit)."""
        await self.request("DELETE", f"/v1/chapters/{chapter}")

    # --- sources ---

    async def sources(self, chapter: str, *, tags: list[str] | None = None) -> list[Source]:
        """A chapter's sources with their status."""
        params = {"tags": ",".join(tags)} if tags else None
        data = await self.request("GET", f"/v1/chapters/{chapter}/sources", params=params)
        return convert(items(data, "sources"), list[Source])

    async def source(self, chapter: str, source: str) -> Source:
        """One source."""
        return await self._typed(Source, "GET", f"/v1/chapters/{chapter}/sources/{source}")

    async def source_text(self, chapter: str, source: str) -> str:
        """A source's extracted text."""
        data = await self.request("GET", f"/v1/chapters/{chapter}/sources/{source}/text")
        return data["text"] if isinstance(data, dict) else str(data)

    async def upload(
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
        """Upload a file (multipart, streamed from disk); with `wait`, until it is extracted or
        rejected. `progress(sent, total)` follows the bytes as they leave."""
        if isinstance(file, Path):
            name = name or file.name
            # httpx reads multipart files synchronously anyway: local disk reads are not awaited.
            total = file.stat().st_size  # noqa: ASYNC240
            handle: IO[bytes] = open(file, "rb")  # noqa: ASYNC230, SIM115 - closed below
        else:
            if name is None:
                raise ValueError("uploading bytes needs a `name`")
            total = len(file)
            handle = io.BytesIO(file)
        media_type = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            reader = ProgressReader(handle, total, progress)
            data = await self.request(
                "POST",
                f"/v1/chapters/{chapter}/sources",
                files={"file": (name, reader, media_type)},
                data={"tags": list(tags)} if tags else None,
                params={"wait": "true"} if wait else None,
                slow=wait,
            )
        finally:
            handle.close()
        return await self._added(chapter, data, wait, wait_timeout)

    async def _added(self, chapter: str, data: Any, wait: bool, within: float) -> Source:
        # POST …/sources answers {sources: [...], rev}; one file or one page makes one source.
        added = convert(items(data, "sources"), list[Source])
        if len(added) != 1:
            raise ApiError(200, "unexpected_answer", f"expected one new source, got {len(added)}")
        if wait and added[0].status == "pending":
            # The server waits a while with ?wait=true; a big file can take longer.
            return await self.wait_for_source(chapter, added[0].id, within=within)
        return added[0]

    async def add_url(
        self,
        chapter: str,
        url: str,
        *,
        tags: list[str] | None = None,
        wait: bool = False,
        wait_timeout: float = 300.0,
    ) -> Source:
        """Add a web page: the server fetches it and extracts the main text."""
        body: dict[str, Any] = {"url": url}
        if tags:
            body["tags"] = list(tags)
        path = f"/v1/chapters/{chapter}/sources"
        params = {"wait": "true"} if wait else None
        # Fetching a page takes a while even without waiting for ingest.
        data = await self.request("POST", path, json_body=body, params=params, slow=True)
        return await self._added(chapter, data, wait, wait_timeout)

    async def wait_for_source(self, chapter: str, source: str, *, within: float = 300.0) -> Source:
        """Poll until a source leaves `pending` (extracted, rejected or removed)."""
        deadline = time.monotonic() + within
        delay = 0.1
        while True:
            current = await self.source(chapter, source)
            if current.status != "pending":
                return current
            if time.monotonic() > deadline:
                raise ApiError(0, "timeout", f"source {source} is still pending after {within:g} s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    async def retag_source(self, chapter: str, source: str, tags: list[str]) -> Source:
        """Replace a source's tags."""
        path = f"/v1/chapters/{chapter}/sources/{source}"
        return await self._typed(Source, "PATCH", path, json_body={"tags": tags})

    async def remove_source(self, chapter: str, source: str) -> None:
        """Remove a source from the chapter."""
        await self.request("DELETE", f"/v1/chapters/{chapter}/sources/{source}")

    async def search(
        self,
        chapter: str,
        query: str,
        *,
        k: int = 8,
        tags: list[str] | None = None,
        rev: int | None = None,
    ) -> list[SearchHit]:
        """The passages nearest to `query` (in the chapter as it was at `rev`, if given)."""
        body: dict[str, Any] = {"query": query, "k": k}
        if tags:
            body["tags"] = list(tags)
        if rev is not None:
            body["rev"] = rev
        data = await self.request("POST", f"/v1/chapters/{chapter}/search", json_body=body)
        return convert(items(data, "hits"), list[SearchHit])

    # --- chat ---

    async def ask(
        self, chapter: str, question: str, *, thread: str | None = None, k: int | None = None
    ) -> Answer:
        """An answer with citations (in a new thread unless one is given)."""
        body = question_body(question, thread, k)
        path = f"/v1/chapters/{chapter}/ask"
        return await self._typed(Answer, "POST", path, json_body=body, slow=True)

    async def ask_stream(
        self, chapter: str, question: str, *, thread: str | None = None, k: int | None = None
    ) -> AsyncIterator[StreamItem]:
        """The answer as it is written (SSE): text pieces, then the whole `Answer`.

        A provider that fails after the first piece ends the stream with `ApiError`."""
        body = question_body(question, thread, k)
        async for item in self._stream_answer(f"/v1/chapters/{chapter}/ask", body):
            yield item

    async def _stream_answer(self, path: str, body: Any) -> AsyncIterator[StreamItem]:
        headers = self._headers({"Accept": "text/event-stream"})
        headers.setdefault(IDEMPOTENCY_HEADER, uuid.uuid4().hex)  # the question is one write
        try:
            async with self._http.stream(
                "POST", path, json=body, headers=headers, timeout=SLOW_TIMEOUT
            ) as response:
                if response.status_code >= 400:
                    raise error_from(response, await response.aread())
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # A server that does not stream answers with the whole answer at once.
                    yield convert(json.loads(await response.aread()), Answer)
                    return
                async for event, data in iter_sse(response.aiter_lines()):
                    item = stream_item(event, data)
                    if item is not None:
                        yield item
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None

    async def threads(self, chapter: str) -> list[Thread]:
        """A chapter's chat threads."""
        data = await self.request("GET", f"/v1/chapters/{chapter}/threads")
        return convert(items(data, "threads"), list[Thread])

    async def create_thread(self, chapter: str, title: str = "") -> Thread:
        """A new chat thread."""
        path = f"/v1/chapters/{chapter}/threads"
        return await self._typed(Thread, "POST", path, json_body={"title": title})

    async def messages(self, chapter: str, thread: str) -> list[Message]:
        """A thread's messages, oldest first."""
        data = await self.request("GET", f"/v1/chapters/{chapter}/threads/{thread}/messages")
        return convert(items(data, "messages"), list[Message])

    async def post_message(
        self, chapter: str, thread: str, text: str, *, k: int | None = None
    ) -> Answer:
        """Ask in a thread; the answer."""
        path = f"/v1/chapters/{chapter}/threads/{thread}/messages"
        body: dict[str, Any] = {"text": text}
        if k is not None:
            body["k"] = k
        return await self._typed(Answer, "POST", path, json_body=body, slow=True)
