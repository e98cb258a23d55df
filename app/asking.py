"""Asking a chapter: threads and the orchestration of one question.

    llm = await llms.for_book(book)      # app/book_llms.py: the book's, else the server's
    async for item in ask(read, chapter=ch, thread=t, question=q, actor=user.id, llm=llm):
        ...                                               # str deltas, then one `Asked`

A question is recorded before it is answered (`MessagePosted(role="user")`), and its answer only
once the whole answer is in (`MessagePosted(role="assistant")` with citations, the rev retrieval
saw, the model and its token usage). A provider that fails midway leaves the question and no
half answer in the log; the error reaches the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator

import msgspec

from app.answers import (
    DEFAULT_MIN_SIMILARITY,
    Answer,
    covered,
    dedupe,
    retrieval_of,
    stream_answer,
)
from app.asof import check_rev
from app.readside import ReadSide
from app.reranking import SERVER, RerankChoice, depth_for, reranked, resolve
from app.rewriting import standalone_query
from engine.errors import EngineError
from engine.rules import Invalid, NotFound
from events import Citation, MessagePosted, ThreadStarted, TokenUsage, is_id, new_id
from projections.chat import MAX_PAGE, MessageView, ThreadView
from projections.providers import LLM, ChatMessage, Usage
from projections.vectors import DEFAULT_SEARCH_MODE, SearchHit, SearchMode, Span

__all__ = [
    "ANSWER_ACTOR",
    "DEFAULT_K",
    "MAX_K",
    "MAX_QUESTION_CHARS",
    "MAX_TITLE_CHARS",
    "Asked",
    "CitedPassage",
    "IndexBehind",
    "ThreadNotFound",
    "ask",
    "auto_title",
    "check_question",
    "require_thread",
    "start_thread",
]

log = logging.getLogger(__name__)

ANSWER_ACTOR = "proc:answers"
"""The actor of assistant messages: the question's own event names who asked."""

MAX_QUESTION_CHARS = 8000
MAX_TITLE_CHARS = 200
AUTO_TITLE_CHARS = 80
MAX_K = 50
DEFAULT_K = 8
DEFAULT_HISTORY = 3
"""Earlier question-and-answer pairs of the thread sent along with a question."""
WAIT_S = 20.0
"""How long a question waits for the chapter's index to catch up with the log."""


# -- errors ----------------------------------------------------------------------------------


class ThreadNotFound(NotFound):
    """No thread with this id in this chapter (HTTP 404)."""

    code = "thread_not_found"


class IndexBehind(EngineError):
    """The chapter's index did not catch up with its log in time (HTTP 503, retry shortly)."""

    code = "index_behind"
    retry_after = 5
    """Seconds a client should wait before asking again."""


# -- shapes ----------------------------------------------------------------------------------


class CitedPassage(msgspec.Struct, frozen=True, kw_only=True):
    """A passage an answer cites: where it is and what it says."""

    source: str
    source_name: str
    chunk: str
    """Chunk hash."""
    span: Span
    text: str


class Asked(msgspec.Struct, frozen=True, kw_only=True):
    """A finished answer, as recorded in the log (the answer shape of docs/architecture.md)."""

    id: str
    """The assistant message's id."""
    thread: str
    question: str
    """The id of the user message it answers."""
    text: str
    citations: list[CitedPassage]
    rev: int
    """The chapter rev retrieval saw (`answered_at_rev`)."""
    message_rev: int
    """The rev of the answer's own `MessagePosted`."""
    model: str
    usage: TokenUsage | None = None
    query: str = ""
    """The standalone query retrieval searched: the question, or a follow-up rewritten with
    the thread's earlier turns (app/rewriting.py)."""


# -- threads ---------------------------------------------------------------------------------


async def start_thread(
    read: ReadSide, *, chapter: str, actor: str, title: str = "", wait_s: float = WAIT_S
) -> ThreadView:
    """Open a thread (`ThreadStarted`) and return it once the chat view shows it."""
    title = " ".join(title.split())
    if len(title) > MAX_TITLE_CHARS:
        raise Invalid(f"a thread title can be at most {MAX_TITLE_CHARS} characters")
    thread = new_id()
    recorded = await read.logs.chapter(chapter).append(
        ThreadStarted(thread=thread, title=title), actor=actor
    )
    stored = recorded.envelope.body
    if isinstance(stored, ThreadStarted):  # a client's retry gets the thread it first started
        thread, title = stored.thread, stored.title
    if await read.settle(chapter, recorded.rev, ["chat"], within=wait_s):
        view = await read.chat.thread(chapter, thread)
        if view is not None:
            return view
    at = recorded.envelope.at
    return ThreadView(
        id=thread, title=title, actor=actor, created_rev=recorded.rev, created_at=at,
        message_count=0, last_at=at,
    )  # fmt: skip


async def require_thread(
    read: ReadSide, chapter: str, thread: str, *, wait_s: float = WAIT_S
) -> ThreadView:
    """The thread, or ThreadNotFound; a thread just started elsewhere is waited for."""
    if not is_id(thread):
        raise ThreadNotFound("no such thread")
    view = await read.chat.thread(chapter, thread)
    if view is None:
        head = (await read.logs.chapter(chapter).head()).rev
        if await read.settle(chapter, head, ["chat"], within=wait_s):
            view = await read.chat.thread(chapter, thread)
    if view is None:
        raise ThreadNotFound("no such thread")
    return view


async def _history(
    read: ReadSide, chapter: str, thread: str, before_rev: int, pairs: int
) -> list[ChatMessage]:
    """The thread's last `pairs` answered questions before `before_rev`, oldest first."""
    if pairs <= 0:
        return []
    recent: deque[tuple[MessageView, MessageView]] = deque(maxlen=pairs)
    previous: MessageView | None = None
    after = 0
    while True:
        page = await read.chat.messages(chapter, thread, limit=MAX_PAGE, after_rev=after)
        for message in page:
            if message.rev >= before_rev:
                break
            # Only a question followed by its answer: a question left unanswered (its provider
            # failed) would make two user turns in a row, which some providers refuse.
            if previous is not None and previous.role == "user" and message.role == "assistant":
                recent.append((previous, message))
            previous = message
        if len(page) < MAX_PAGE or page[-1].rev >= before_rev:
            break
        after = page[-1].rev
    turns: list[ChatMessage] = []
    for question, answer in recent:
        turns.append(ChatMessage(role="user", content=question.text))
        turns.append(ChatMessage(role="assistant", content=answer.text))
    return turns


# -- one question ----------------------------------------------------------------------------


def _passages(citations: list[Citation], hits: list[SearchHit]) -> list[CitedPassage]:
    by_chunk = {(hit.source, hit.chunk): hit for hit in hits}
    passages = []
    for c in citations:
        hit = by_chunk.get((c.source, c.chunk))
        passages.append(
            CitedPassage(
                source=c.source,
                source_name=hit.source_name if hit else "",
                chunk=c.chunk,
                span=Span(start=c.start, end=c.end, page=c.page, heading=c.heading),
                text=hit.text if hit else "",
            )
        )
    return passages


def check_question(question: str) -> str:
    """The question trimmed; Invalid when empty or too long."""
    question = question.strip()
    if not question:
        raise Invalid("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise Invalid(f"a question can be at most {MAX_QUESTION_CHARS} characters")
    return question


def auto_title(question: str) -> str:
    """A thread title from its first question: the first line, shortened at a word."""
    line = " ".join(question.strip().splitlines()[0].split()) if question.strip() else ""
    if len(line) <= AUTO_TITLE_CHARS:
        return line
    return line[: AUTO_TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


async def ask(
    read: ReadSide,
    *,
    chapter: str,
    thread: str,
    question: str,
    actor: str,
    llm: LLM | None,
    k: int = DEFAULT_K,
    history: int = DEFAULT_HISTORY,
    wait_s: float = WAIT_S,
    rev: int | None = None,
    mode: SearchMode = DEFAULT_SEARCH_MODE,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    rerank: RerankChoice = SERVER,
) -> AsyncIterator[str | Asked]:
    """Ask `question` in `thread`: text deltas as the answer is written, then one `Asked`.

    `mode` is the book's search mode and `min_similarity` its threshold below which the answer
    says the sources don't cover the question (app/retrieval_settings.py); `rerank` the book's
    rerank service (app/book_rerankers.py; SERVER: the server's `[rerank]`). Passages are
    de-duplicated and widened to their neighbouring chunks before they are answered from.

    `rev` answers from the chapter as it was at that rev (None: as it is now). The answer
    records the rev retrieval saw, the query it searched (a follow-up rewritten into a
    standalone one, app/rewriting.py) and its configuration (`Retrieval`), so that
    GET …/provenance can run the same retrieval again.

    The caller has checked that `actor` may write to the chapter. Raises ThreadNotFound,
    Invalid (RevOutOfRange for a rev the chapter does not have), IndexBehind (the question is
    then recorded, unanswered) or a ProviderError, which may come after some deltas: the answer
    is then not recorded.
    """
    question = check_question(question)
    if not 1 <= k <= MAX_K:
        raise Invalid(f"k must be between 1 and {MAX_K}, not {k}")
    await require_thread(read, chapter, thread, wait_s=wait_s)
    chapter_log = read.logs.chapter(chapter)
    if rev is not None:
        await check_rev(chapter_log, rev)
    as_of = rev is not None
    question_id = new_id()
    asked = await chapter_log.append(
        MessagePosted(thread=thread, message=question_id, role="user", text=question), actor=actor
    )
    # Read your own write: the index has folded every event up to the question, and the chat
    # view every earlier turn of the thread.
    if not await read.settle(chapter, asked.rev, ["vectors", "chat"], within=wait_s):
        raise IndexBehind(
            f"the chapter's index is still catching up with rev {asked.rev}; "
            f"the question is saved, ask again in a few seconds"
        )
    turns = await _history(read, chapter, thread, asked.rev, history)
    # A follow-up ("and what do they hunt?") is searched as a standalone query; it is recorded
    # with the answer, and the question itself is what the answerer is asked.
    query, rewrite_usage = await standalone_query(question, turns, llm)
    similarity: float | None
    rare_match = False
    if rev is None:
        rev = max(asked.rev, await read.settle.position(chapter, "vectors"))
        service = resolve(read, rerank)
        found = await read.vectors.retrieve(chapter, query, k=depth_for(service, k), mode=mode)
        hits, similarity = await reranked(service, query, found.hits, k=k), found.similarity
        rare_match = found.rare_match
    else:
        # The rev was checked above; an answer as of a rev takes no tags.
        found = await read.vectors.retrieve_at(chapter, query, rev=rev, k=k, mode=mode)
        hits, similarity, rare_match = found.hits, found.similarity, found.rare_match
    retrieval = retrieval_of(
        embedder=read.vectors.embedder.model, index=read.vectors.index.name, k=k, tags=[],
        hits=hits, mode=mode,
    )  # fmt: skip
    is_covered = covered(similarity, hits, min_similarity, rare_match=rare_match)
    passages = dedupe(hits) if is_covered else []
    if passages and not as_of:  # neighbours as of a past rev are not what the state holds now
        passages = await read.vectors.expand(chapter, passages)

    answer: Answer | None = None
    async for piece in stream_answer(question, passages, llm, history=turns, is_covered=is_covered):
        if isinstance(piece, Answer):
            answer = piece
        else:
            yield piece
    if answer is None:  # stream_answer always ends with one; guard against a silent loss
        raise RuntimeError("the answer stream ended without an answer")
    usage = _with_rewrite(answer.usage, rewrite_usage)

    message = new_id()
    body = MessagePosted(
        thread=thread,
        message=message,
        role="assistant",
        text=answer.text,
        citations=answer.citations,
        answered_at_rev=rev,
        model=answer.model,
        usage=usage,
        retrieval=retrieval,
        query=query,
    )
    # Shielded: a client that hangs up now must not leave it unknown whether the answer landed.
    recorded = await asyncio.shield(chapter_log.append(body, actor=ANSWER_ACTOR))
    if not await read.settle(chapter, recorded.rev, ["chat"], within=wait_s):
        log.warning("chapter %s: the chat view is behind rev %d", chapter, recorded.rev)
    yield Asked(
        id=message,
        thread=thread,
        question=question_id,
        text=answer.text,
        citations=_passages(answer.citations, passages),
        rev=rev,
        message_rev=recorded.rev,
        model=answer.model,
        usage=usage,
        query=query,
    )


def _with_rewrite(usage: TokenUsage | None, rewrite: Usage) -> TokenUsage | None:
    """The answer's token usage with the follow-up rewrite's added: both are the book's model's
    work for this answer."""
    if not rewrite.prompt and not rewrite.completion:
        return usage
    base = usage or TokenUsage()
    return TokenUsage(
        prompt=base.prompt + rewrite.prompt, completion=base.completion + rewrite.completion
    )
