"""A chapter's change feed as server-sent events: `GET /v1/chapters/{chapter}/changes?after=N`.

    retry: 3000

    id: 7
    event: change
    data: {"rev": 7, "type": "SourceExtracted", "actor": "proc:ingest", "at": …,
           "summary": "extracted report.pdf: 14 chunks", "source": "01j…"}

    : keep-alive

Each stored event after rev N comes first, then each new one as it is stored (app/changes.py).
The `id` is the rev, so a browser's `EventSource` reconnects with `Last-Event-ID` and resumes
after the last change it saw (the header wins over `after`). A comment every `KEEPALIVE_S`
keeps proxies from closing a quiet stream.

The caller's access is checked again every `ACCESS_CHECK_S` seconds while the stream is open:
their token (or session) must still hold and the chapter must still be readable to them. When
either ends, the stream sends `event: closed` with `{code, message}` and ends; the browser's
reconnect then gets the 401 or 404 the caller now deserves. A client that hangs up stops the
read of the log at once (`EventStream` listens for the disconnect itself, on every ASGI server).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Annotated, Any

import anyio
import msgspec
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.changes import Change, chapter_changes
from app.services import Services
from engine.accounts import AccountError
from engine.errors import EngineError
from engine.rules import Forbidden, NotFound
from gateway.deps import Auth, AuthDep, ReadableChapter, ServicesDep
from gateway.errors import BadRequest, classify, error_responses

__all__ = ["ACCESS_CHECK_S", "KEEPALIVE_S", "EventStream", "router"]

log = logging.getLogger("ragstack.gateway")

EVENT_STREAM = "text/event-stream"
KEEPALIVE_S = 15.0
"""Seconds of quiet after which the stream sends a keep-alive comment."""
ACCESS_CHECK_S = 5.0
"""Seconds between checks that the caller may still read the chapter."""
RETRY_MS = 3000
"""How long a browser waits before reconnecting a dropped stream."""

_MAX_REV = 2**53
_QUEUED = 256  # changes read ahead of a slow client; then the log read waits for it

_QUIET = object()  # nothing came while waiting

_ACCESS_ENDED = frozenset({"invalid_token", "token_expired", "user_disabled"})


class EventStream(StreamingResponse):
    """A streaming response that stops its body the moment the client hangs up.

    Starlette listens for the disconnect only under ASGI spec < 2.4 and otherwise notices it at
    the next write, which for a quiet feed is the next keep-alive: a follow of the log would
    outlive its client by up to `KEEPALIVE_S`. This one always listens.
    """

    media_type = EVENT_STREAM

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def run_then_stop(step: Callable[[], Awaitable[None]]) -> None:
                with contextlib.suppress(OSError):  # the client went away mid-write
                    await step()
                group.cancel_scope.cancel()

            group.start_soon(run_then_stop, partial(self.stream_response, send))
            await run_then_stop(partial(self.listen_for_disconnect, receive))


def _frame(event: str, data: Any, *, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _change_frame(change: Change) -> bytes:
    return _frame("change", msgspec.to_builtins(change), event_id=change.rev)


async def _access_ended(services: Services, auth: Auth, chapter: str) -> tuple[str, str] | None:
    """(code, message) once the caller may no longer read `chapter`; None while they may."""
    try:
        await services.accounts.resolve_token(auth.secret)
        await services.books.chapter_access(auth.user.id, chapter, "read")
    except AccountError as exc:
        if exc.code in _ACCESS_ENDED:
            code = "session_expired" if auth.via == "session" else exc.code
            return code, "the credential this stream was opened with no longer holds"
        log.warning("change feed of %s: access not checked: %s", chapter, exc)
    except (NotFound, Forbidden):
        return "chapter_not_found", "this chapter is no longer readable to you"
    except EngineError as exc:  # the store or the log unavailable: check again next time
        log.warning("change feed of %s: access not checked: %s", chapter, exc)
    return None


async def _feed(
    services: Services, auth: Auth, chapter: str, after: int, follow: bool
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Change | BaseException | None] = asyncio.Queue(maxsize=_QUEUED)

    async def read() -> None:
        try:
            async for change in chapter_changes(services.read, chapter, after, follow=follow):
                await queue.put(change)
            await queue.put(None)
        except Exception as exc:
            await queue.put(exc)

    reader = asyncio.create_task(read(), name=f"changes:{chapter}")
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        last_sent = next_check = loop.time()
        next_check += ACCESS_CHECK_S
        while True:
            wait = min(last_sent + KEEPALIVE_S, next_check) - loop.time()
            try:
                item: object = await asyncio.wait_for(queue.get(), max(wait, 0.0))
            except TimeoutError:
                item = _QUIET
            now = loop.time()
            if now >= next_check:
                ended = await _access_ended(services, auth, chapter)
                if ended is not None:
                    yield _frame("closed", {"code": ended[0], "message": ended[1]})
                    return
                next_check = now + ACCESS_CHECK_S
            if item is _QUIET:
                if now >= last_sent + KEEPALIVE_S:
                    yield b": keep-alive\n\n"
                    last_sent = now
                continue
            if item is None:  # not following: the stored changes are all sent
                return
            if isinstance(item, BaseException):
                status, code = classify(item)
                if status >= 500:
                    log.error("change feed of %s failed", chapter, exc_info=item)
                yield _frame("closed", {"code": code, "message": str(item) or code})
                return
            assert isinstance(item, Change)
            yield _change_frame(item)
            last_sent = now
    finally:
        # The client hung up, or the feed ended: stop reading the log now.
        reader.cancel()


def _resume_from(after: int, last_event_id: str | None) -> int:
    if last_event_id is None or not last_event_id.strip():
        return after
    try:
        rev = int(last_event_id.strip())
    except ValueError:
        rev = -1
    if not 0 <= rev <= _MAX_REV:
        raise BadRequest("Last-Event-ID must be a rev this feed sent (a whole number)")
    return rev


router = APIRouter(tags=["changes"], responses=error_responses(401, 403, 404))


@router.get(
    "/chapters/{chapter}/changes",
    responses={
        200: {
            "description": "Server-sent events: `change` {rev, type, actor, at, summary, source}"
            " with the rev as its id, keep-alive comments, and `closed` {code, message} when"
            " the caller's access ends.",
            "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
        },
        **error_responses(400),
    },
)
async def read_changes(
    services: ServicesDep,
    auth: AuthDep,
    chapter: ReadableChapter,
    after: Annotated[
        int, Query(ge=0, le=_MAX_REV, description="Send the changes after this rev.")
    ] = 0,
    follow: Annotated[
        bool, Query(description="Keep the stream open for new changes (false: end at the head).")
    ] = True,
    last_event_id: Annotated[
        str | None,
        Header(max_length=32, description="Resume after this rev (sent by EventSource)."),
    ] = None,
) -> EventStream:
    """The chapter's changes after `after` as server-sent events, then each new one as it is
    stored (a browser's `EventSource` resumes with `Last-Event-ID`)."""
    start = _resume_from(after, last_event_id)
    return EventStream(
        _feed(services, auth, chapter.id, start, follow),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
