"""Chat over HTTP: a chapter's threads, their messages, and questions answered with citations.

A question is answered as JSON, or, when the request sends `Accept: text/event-stream`, as
server-sent events: `event: token` with `{"text": …}` per piece of the answer as the LLM writes
it, then `event: answer` with the whole answer (the JSON answer's shape). A provider that fails
after the stream has begun sends `event: error` with `{"error": {code, message}}` and ends the
stream; a failure before the first piece (a wrong API key, a rate limit) is an ordinary HTTP
error, whichever was asked for. The orchestration lives in app/asking.py, the shapes in
gateway/schemas_chat.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app import forwarding
from app.asking import (
    Asked,
    ask,
    auto_title,
    check_question,
    require_thread,
    start_thread,
)
from app.book_llms import BookLLMs
from app.services import Services
from engine.rules import ChapterEntry
from gateway.deps import CurrentUser, ReadableChapter, ServicesDep, WritableChapter
from gateway.errors import classify, error_responses
from gateway.routes.llm_settings import BookLLMsDep
from gateway.schemas import SpanPublic, UsagePublic
from gateway.schemas_chat import (
    AnswerPublic,
    AskRequest,
    CitationPublic,
    MessageCreate,
    MessageList,
    MessagePublic,
    ThreadCreate,
    ThreadList,
    ThreadPublic,
)
from projections.chat import MAX_PAGE, MessageView, ThreadView

__all__ = ["ANSWER_RESPONSES", "answer_public", "respond", "router"]

log = logging.getLogger("ragstack.gateway")

EVENT_STREAM = "text/event-stream"


_Id = Annotated[str, Path(max_length=64)]


# --- shaping ---


def _thread_public(view: ThreadView) -> ThreadPublic:
    return ThreadPublic(
        id=view.id, title=view.title, actor=view.actor, created_rev=view.created_rev,
        created_at=view.created_at, message_count=view.message_count, last_at=view.last_at,
    )  # fmt: skip


def answer_public(asked: Asked) -> AnswerPublic:
    """The public shape of a finished answer."""
    usage = asked.usage
    return AnswerPublic(
        id=asked.id,
        thread=asked.thread,
        question=asked.question,
        text=asked.text,
        citations=[
            CitationPublic(
                source=c.source, source_name=c.source_name, chunk=c.chunk,
                span=SpanPublic(start=c.span.start, end=c.span.end, page=c.span.page,
                                heading=c.span.heading),
                text=c.text,
            )
            for c in asked.citations
        ],
        rev=asked.rev,
        message_rev=asked.message_rev,
        model=asked.model,
        usage=None if usage is None else UsagePublic(prompt=usage.prompt, completion=usage.completion),
        query=asked.query,
    )  # fmt: skip


async def _messages_public(
    services: Services, chapter: str, views: list[MessageView]
) -> list[MessagePublic]:
    names: dict[str, str] = {}
    for source in {c.source for m in views for c in m.citations}:
        found = await services.read.catalogue.source(chapter, source)
        names[source] = found.name if found is not None else ""
    return [MessagePublic.of(m, names) for m in views]


# --- answering: JSON or server-sent events ---


def _wants_events(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "").lower()


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _error_event(exc: BaseException) -> bytes:
    status_code, code = classify(exc)
    message = str(exc)
    if code == "internal" or not message:
        incident = secrets.token_hex(6)
        log.error("answer stream failed (incident %s)", incident, exc_info=exc)
        message = f"an unexpected error occurred (incident {incident})"
    elif status_code >= 500:
        log.warning("answer stream failed: %s", message)
    return _sse("error", {"error": {"code": code, "message": message}})


class _Failed:
    def __init__(self, error: Exception) -> None:
        self.error = error


async def respond(request: Request, stream: AsyncIterator[str | Asked]) -> Response:
    """The answer `stream` makes, as JSON, or as server-sent events when the request asks."""
    if not _wants_events(request):
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for item in stream:
                if isinstance(item, Asked):
                    return JSONResponse(answer_public(item).model_dump(mode="json"))
        raise RuntimeError("the answer stream ended without an answer")

    # One task runs the whole answer (an async generator must not hop between tasks), handing
    # its pieces over a queue; the first piece is awaited here so that a failure before it is a
    # plain HTTP error.
    queue: asyncio.Queue[str | Asked | _Failed] = asyncio.Queue()

    async def produce() -> None:
        try:
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for item in stream:
                    queue.put_nowait(item)
        except Exception as exc:
            queue.put_nowait(_Failed(exc))

    task = asyncio.create_task(produce(), name="answer")
    try:
        first = await queue.get()
    except BaseException:
        task.cancel()
        raise
    if isinstance(first, _Failed):
        raise first.error

    async def events() -> AsyncIterator[bytes]:
        item = first
        try:
            while True:
                if isinstance(item, _Failed):
                    yield _error_event(item.error)
                    return
                if isinstance(item, Asked):
                    yield _sse("answer", answer_public(item).model_dump(mode="json"))
                    return
                yield _sse("token", {"text": item})
                item = await queue.get()
        finally:
            # A client that hung up stops the answer: nothing half-written is recorded.
            task.cancel()

    return StreamingResponse(
        events(),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _asked(
    request: Request,
    services: Services,
    llms: BookLLMs,
    user: CurrentUser,
    chapter: ChapterEntry,
    thread: str | None,
    question: str,
    k: int,
    passthrough: bool,
    rev: int | None = None,
) -> Response:
    """Answer `question` in `thread` (None: a new thread titled after it)."""
    if passthrough and rev is None:  # an answer as of a rev comes from this copy
        forwarded = await forwarding.ask(services, chapter.id, question, k)
        if forwarded is not None:  # a mirror whose owner's model answers: no local thread
            return _forwarded(request, forwarded)
    if thread is None:
        title = auto_title(check_question(question))  # checked before a thread is made for it
        thread = (
            await start_thread(services.read, chapter=chapter.id, actor=user.id, title=title)
        ).id
    book = await services.books.book_of(chapter.id)
    llm = await llms.for_book(book)
    how = await services.retrieval.for_book(book)
    rerank = await services.rerankers.for_book(book)
    stream = ask(
        services.read, chapter=chapter.id, thread=thread, question=question, actor=user.id,
        llm=llm, k=k, rev=rev, mode=how.mode, min_similarity=how.min_similarity, rerank=rerank,
    )  # fmt: skip
    return await respond(request, stream)


def _forwarded(request: Request, answer: dict[str, Any]) -> Response:
    """An answer the owner's server gave, as JSON or as the events of a stream (one piece)."""
    if not _wants_events(request):
        return JSONResponse(answer)

    async def events() -> AsyncIterator[bytes]:
        yield _sse("token", {"text": answer.get("text", "")})
        yield _sse("answer", answer)

    return StreamingResponse(
        events(), media_type=EVENT_STREAM, headers={"Cache-Control": "no-cache"}
    )


# --- routes ---

router = APIRouter(tags=["chat"], responses=error_responses(401, 403, 404))

ANSWER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The answer; with `Accept: text/event-stream`, server-sent events "
        "(`token` {text}, then `answer` or `error`).",
        "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
    },
    **error_responses(422, 429, 503),
}


@router.get("/chapters/{chapter}/threads")
async def read_threads(
    services: ServicesDep,
    chapter: ReadableChapter,
    before: Annotated[str | None, Query(max_length=64, description="A thread id.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ThreadList:
    """The chapter's threads, newest first."""
    views = await services.read.chat.threads(chapter.id, limit=limit, before=before)
    return ThreadList(
        threads=[_thread_public(v) for v in views],
        next_before=views[-1].id if len(views) == limit else None,
    )


@router.post("/chapters/{chapter}/threads", status_code=status.HTTP_201_CREATED)
async def create_thread(
    body: ThreadCreate, services: ServicesDep, user: CurrentUser, chapter: WritableChapter
) -> ThreadPublic:
    """Start a thread."""
    view = await start_thread(services.read, chapter=chapter.id, actor=user.id, title=body.title)
    return _thread_public(view)


@router.get("/chapters/{chapter}/threads/{thread}/messages")
async def read_messages(
    services: ServicesDep,
    chapter: ReadableChapter,
    thread: _Id,
    after_rev: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> MessageList:
    """A thread's messages, oldest first."""
    await require_thread(services.read, chapter.id, thread)
    views = await services.read.chat.messages(chapter.id, thread, limit=limit, after_rev=after_rev)
    return MessageList(
        messages=await _messages_public(services, chapter.id, views),
        next_after_rev=views[-1].rev if len(views) == limit else None,
    )


@router.post(
    "/chapters/{chapter}/threads/{thread}/messages",
    response_model=AnswerPublic,
    responses=ANSWER_RESPONSES,
)
async def create_message(
    request: Request,
    body: MessageCreate,
    services: ServicesDep,
    llms: BookLLMsDep,
    user: CurrentUser,
    chapter: WritableChapter,
    thread: _Id,
) -> Response:
    """Ask a question in a thread: the answer cites the chapter's passages (JSON or SSE)."""
    return await _asked(
        request,
        services,
        llms,
        user,
        chapter,
        thread,
        body.text,
        body.k,
        body.passthrough,
        body.rev,
    )


@router.post("/chapters/{chapter}/ask", response_model=AnswerPublic, responses=ANSWER_RESPONSES)
async def ask_chapter(
    request: Request,
    body: AskRequest,
    services: ServicesDep,
    llms: BookLLMsDep,
    user: CurrentUser,
    chapter: WritableChapter,
) -> Response:
    """Ask a question, in a new thread unless `thread` names one (JSON or SSE)."""
    return await _asked(
        request,
        services,
        llms,
        user,
        chapter,
        body.thread,
        body.question,
        body.k,
        body.passthrough,
        body.rev,
    )
