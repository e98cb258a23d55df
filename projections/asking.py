"""Asking a chapter: threads, which LLM answers a book, and the orchestration of one question.

    llms = BookLLMs(services.accounts, default=worker.llm)
    llm = await llms.for_book(book)                       # the book's, else the server's, else None
    async for item in ask(worker, chapter=ch, thread=t, question=q, actor=user.id, llm=llm):
        ...                                               # str deltas, then one `Asked`

A question is recorded before it is answered (`MessagePosted(role="user")`), and its answer only
once the whole answer is in (`MessagePosted(role="assistant")` with citations, the rev retrieval
saw, the model and its token usage). A provider that fails midway leaves the question and no
half answer in the log; the error reaches the caller.

A book's LLM settings live in the accounts store as two encrypted secrets of scope `book:<id>`:
`llm.config` (kind, model, base URL, as JSON) and `llm.api_key`. The key never enters a log, an
event, a response or a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from typing import Literal, cast
from urllib.parse import urlsplit

import msgspec

from engine.accounts import AccountStore, DecryptionFailed
from engine.errors import EngineError
from engine.rules import Invalid, NotFound
from events import Citation, MessagePosted, ThreadStarted, TokenUsage, is_id, new_id
from projections.answers import Answer, stream_answer
from projections.chat import MAX_PAGE, ChatReads, MessageView, ThreadView
from projections.providers import LLM, ChatMessage, ProviderConfig, make_llm
from projections.vectors import SearchHit, Span
from projections.worker import DEFAULT_MODELS, Worker

__all__ = [
    "ANSWER_ACTOR",
    "DEFAULT_K",
    "KEEP_KEY",
    "MAX_K",
    "MAX_QUESTION_CHARS",
    "MAX_TITLE_CHARS",
    "AnswererKind",
    "Asked",
    "BookLLMSettings",
    "BookLLMs",
    "CitedPassage",
    "IndexBehind",
    "LLMChoice",
    "LLMSettingsUnreadable",
    "ThreadNotFound",
    "ask",
    "auto_title",
    "check_question",
    "require_thread",
    "start_thread",
]

log = logging.getLogger(__name__)

AnswererKind = Literal["openai", "gemini", "ollama", "anthropic", "extractive"]
ANSWERER_KINDS: tuple[str, ...] = ("openai", "gemini", "ollama", "anthropic", "extractive")
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

CONFIG_SECRET = "llm.config"
KEY_SECRET = "llm.api_key"
_MAX_MODEL_CHARS = 200
_MAX_URL_CHARS = 2000
_MAX_KEY_CHARS = 4096
# Public endpoints that bill someone: a book must bring its own key, never borrow the server's.
_KEYED_KINDS = frozenset({"openai", "gemini", "anthropic"})
_CACHED_LLMS = 32


# -- errors ----------------------------------------------------------------------------------


class ThreadNotFound(NotFound):
    """No thread with this id in this chapter (HTTP 404)."""

    code = "thread_not_found"


class IndexBehind(EngineError):
    """The chapter's index did not catch up with its log in time (HTTP 503, retry shortly)."""

    code = "index_behind"
    retry_after = 5
    """Seconds a client should wait before asking again."""


class LLMSettingsUnreadable(EngineError):
    """A book's stored LLM settings do not decode (HTTP 500); setting them again repairs them.

    Never a silent fall-back to the server's LLM: the book may have chosen to send its passages
    to no LLM at all."""

    code = "llm_settings_unreadable"


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
    """A finished answer, as recorded in the log (the public answer shape of DESIGN.md)."""

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


class BookLLMSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A book's stored LLM choice, without its key (the `llm.config` secret)."""

    kind: AnswererKind
    model: str = ""
    base_url: str | None = None


class LLMChoice(msgspec.Struct, frozen=True, kw_only=True):
    """Which answerer a book uses, as any member may see it: never the key."""

    source: Literal["book", "server", "none"]
    """book: the book's own settings; server: the server's default; none: extractive answers."""
    kind: str
    model: str
    base_url: str | None = None
    has_api_key: bool = False


# -- which LLM answers a book ----------------------------------------------------------------


class _Keep:
    """The `api_key` argument meaning: keep the stored key if the endpoint stays the same."""


KEEP_KEY = _Keep()


def _scope(book: str) -> str:
    return f"book:{book}"


def _check_base_url(url: str) -> str:
    url = url.strip()
    if len(url) > _MAX_URL_CHARS:
        raise Invalid(f"base_url can be at most {_MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise Invalid("base_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("base_url must be an http:// or https:// URL with a host")
    # Credentials in a URL would be shown to every member: they belong in api_key.
    if parts.username is not None or parts.password is not None:
        raise Invalid("base_url must not carry credentials; put the key in api_key")
    if parts.query or parts.fragment:
        raise Invalid("base_url must not have a query or fragment; put a key in api_key")
    return url


def _check_key(key: str) -> str:
    # The key's text is never repeated in a message: a typo in it is still a secret.
    if len(key) > _MAX_KEY_CHARS:
        raise Invalid(f"api_key can be at most {_MAX_KEY_CHARS} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise Invalid("api_key cannot contain spaces or control characters")
    return key


def _normalise(settings: BookLLMSettings) -> BookLLMSettings:
    if settings.kind not in ANSWERER_KINDS:
        raise Invalid(f"unknown LLM kind {settings.kind!r}; use one of {', '.join(ANSWERER_KINDS)}")
    if settings.kind == "extractive":
        return BookLLMSettings(kind="extractive")
    model = settings.model.strip() or DEFAULT_MODELS["chat"][settings.kind]
    if len(model) > _MAX_MODEL_CHARS or not model.isprintable():
        raise Invalid(f"model must be a printable name of at most {_MAX_MODEL_CHARS} characters")
    base_url = _check_base_url(settings.base_url) if settings.base_url else None
    return BookLLMSettings(kind=settings.kind, model=model, base_url=base_url)


class BookLLMs:
    """Per-book LLM settings and the LLM clients they make.

    Clients are cached by what they are made of (kind, model, URL, a digest of the key), so a
    settings change made by another gateway process takes effect at the next question, and a
    book whose settings did not change reuses its connection pool.
    """

    def __init__(self, accounts: AccountStore, *, default: LLM | None) -> None:
        self.accounts = accounts
        self.default = default
        self._llms: OrderedDict[tuple[str, ...], LLM] = OrderedDict()
        self._lock = asyncio.Lock()

    async def _stored(self, book: str) -> tuple[BookLLMSettings, str | None] | None:
        raw = await self.accounts.get_secret(_scope(book), CONFIG_SECRET)
        if raw is None:
            return None
        try:
            settings = msgspec.json.decode(raw, type=BookLLMSettings)
        except msgspec.DecodeError:
            raise LLMSettingsUnreadable(
                f"the LLM settings of book {book} cannot be read; an owner or admin can set "
                "them again or remove them"
            ) from None
        return settings, await self.accounts.get_secret(_scope(book), KEY_SECRET)

    async def choice(self, book: str) -> LLMChoice:
        """What answers the book's questions, for display."""
        stored = await self._stored(book)
        if stored is not None:
            settings, key = stored
            return LLMChoice(
                source="book",
                kind=settings.kind,
                model=settings.model,
                base_url=settings.base_url,
                has_api_key=key is not None,
            )
        if self.default is None:
            return LLMChoice(source="none", kind="extractive", model="")
        kind, _, model = self.default.name.partition(":")
        return LLMChoice(source="server", kind=kind, model=model or kind)

    async def put(
        self, book: str, settings: BookLLMSettings, *, api_key: str | _Keep | None = KEEP_KEY
    ) -> LLMChoice:
        """Store the book's settings. `api_key`: a new key, None for none, or `KEEP_KEY` to keep
        the stored one as long as kind and base URL stay the same (a key never follows its
        settings to another endpoint).

        Raises Invalid (or ProviderConfigError) for settings that cannot work, storing nothing.
        """
        settings = _normalise(settings)
        try:
            old = await self._stored(book)
        except (LLMSettingsUnreadable, DecryptionFailed):
            old = None  # what cannot be read is replaced, never kept
        if isinstance(api_key, _Keep):
            same_place = old is not None and (old[0].kind, old[0].base_url) == (
                settings.kind,
                settings.base_url,
            )
            key = old[1] if same_place and old is not None else None
        else:
            key = _check_key(api_key) if api_key else None
        if settings.kind == "extractive":
            key = None
        elif settings.kind in _KEYED_KINDS and settings.base_url is None and key is None:
            raise Invalid(
                f"{settings.kind} at its public endpoint needs an api_key "
                "(or a base_url of a compatible server)"
            )
        else:
            await self._client(settings, key)  # fails now, not at the first question
        scope = _scope(book)
        # The old key goes first: at no moment may a key sit beside settings naming another
        # endpoint, even if this process dies between the writes.
        await self.accounts.delete_secret(scope, KEY_SECRET)
        await self.accounts.put_secret(scope, CONFIG_SECRET, msgspec.json.encode(settings).decode())
        if key is not None:
            await self.accounts.put_secret(scope, KEY_SECRET, key)
        return await self.choice(book)

    async def delete(self, book: str) -> LLMChoice:
        """Forget the book's settings: the server's default answers again."""
        scope = _scope(book)
        await self.accounts.delete_secret(scope, KEY_SECRET)
        await self.accounts.delete_secret(scope, CONFIG_SECRET)
        return await self.choice(book)

    async def for_book(self, book: str) -> LLM | None:
        """The book's LLM, else the server's default; None means extractive answers."""
        stored = await self._stored(book)
        if stored is None:
            return self.default
        settings, key = stored
        if settings.kind == "extractive":
            return None
        return await self._client(settings, key)

    async def _client(self, settings: BookLLMSettings, key: str | None) -> LLM:
        digest = hashlib.sha256(key.encode()).hexdigest() if key else ""
        fingerprint = (settings.kind, settings.model, settings.base_url or "", digest)
        async with self._lock:
            llm = self._llms.get(fingerprint)
            if llm is None:
                llm = make_llm(
                    ProviderConfig(
                        kind=cast(
                            "Literal['openai', 'gemini', 'ollama', 'anthropic']", settings.kind
                        ),
                        model=settings.model,
                        base_url=settings.base_url,
                        api_key=key,
                    )
                )
                self._llms[fingerprint] = llm
                # An evicted client may be mid-answer: it is dropped, not closed, and its pool
                # goes with the last answer that holds it.
                while len(self._llms) > _CACHED_LLMS:
                    self._llms.popitem(last=False)
            self._llms.move_to_end(fingerprint)
            return llm

    async def aclose(self) -> None:
        """Close every cached client (not the server's default: its owner closes it)."""
        llms, self._llms = list(self._llms.values()), OrderedDict()
        for llm in llms:
            close = getattr(llm, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception as exc:  # closing must not stop the others from closing
                    log.debug("closing %s failed: %r", llm.name, exc)


# -- threads ---------------------------------------------------------------------------------


def _chat(worker: Worker) -> ChatReads:
    return cast("ChatReads", worker.chat)


async def _caught_up(
    worker: Worker, chapter: str, rev: int, projections: list[str], wait_s: float
) -> bool:
    try:
        async with asyncio.timeout(wait_s):
            await worker.runner.wait(chapter, rev, projections=projections)
    except TimeoutError:
        return False
    return True


async def start_thread(
    worker: Worker, *, chapter: str, actor: str, title: str = "", wait_s: float = WAIT_S
) -> ThreadView:
    """Open a thread (`ThreadStarted`) and return it once the chat view shows it."""
    title = " ".join(title.split())
    if len(title) > MAX_TITLE_CHARS:
        raise Invalid(f"a thread title can be at most {MAX_TITLE_CHARS} characters")
    thread = new_id()
    recorded = await worker.logs.chapter(chapter).append(
        ThreadStarted(thread=thread, title=title), actor=actor
    )
    if await _caught_up(worker, chapter, recorded.rev, ["chat"], wait_s):
        view = await _chat(worker).thread(chapter, thread)
        if view is not None:
            return view
    at = recorded.envelope.at
    return ThreadView(
        id=thread, title=title, actor=actor, created_rev=recorded.rev, created_at=at,
        message_count=0, last_at=at,
    )  # fmt: skip


async def require_thread(
    worker: Worker, chapter: str, thread: str, *, wait_s: float = WAIT_S
) -> ThreadView:
    """The thread, or ThreadNotFound; a thread just started elsewhere is waited for."""
    if not is_id(thread):
        raise ThreadNotFound("no such thread")
    view = await _chat(worker).thread(chapter, thread)
    if view is None:
        head = (await worker.logs.chapter(chapter).head()).rev
        if await _caught_up(worker, chapter, head, ["chat"], wait_s):
            view = await _chat(worker).thread(chapter, thread)
    if view is None:
        raise ThreadNotFound("no such thread")
    return view


async def _history(
    worker: Worker, chapter: str, thread: str, before_rev: int, pairs: int
) -> list[ChatMessage]:
    """The thread's last `pairs` answered questions before `before_rev`, oldest first."""
    if pairs <= 0:
        return []
    recent: deque[tuple[MessageView, MessageView]] = deque(maxlen=pairs)
    previous: MessageView | None = None
    after = 0
    while True:
        page = await _chat(worker).messages(chapter, thread, limit=MAX_PAGE, after_rev=after)
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
    worker: Worker,
    *,
    chapter: str,
    thread: str,
    question: str,
    actor: str,
    llm: LLM | None,
    k: int = DEFAULT_K,
    history: int = DEFAULT_HISTORY,
    wait_s: float = WAIT_S,
) -> AsyncIterator[str | Asked]:
    """Ask `question` in `thread`: text deltas as the answer is written, then one `Asked`.

    The caller has checked that `actor` may write to the chapter. Raises ThreadNotFound,
    Invalid, IndexBehind (the question is then recorded, unanswered) or a ProviderError, which
    may come after some deltas: the answer is then not recorded.
    """
    question = check_question(question)
    if not 1 <= k <= MAX_K:
        raise Invalid(f"k must be between 1 and {MAX_K}, not {k}")
    await require_thread(worker, chapter, thread, wait_s=wait_s)
    chapter_log = worker.logs.chapter(chapter)
    question_id = new_id()
    asked = await chapter_log.append(
        MessagePosted(thread=thread, message=question_id, role="user", text=question), actor=actor
    )
    # Read your own write: the index has folded every event up to the question, and the chat
    # view every earlier turn of the thread.
    if not await _caught_up(worker, chapter, asked.rev, ["vectors", "chat"], wait_s):
        raise IndexBehind(
            f"the chapter's index is still catching up with rev {asked.rev}; "
            f"the question is saved, ask again in a few seconds"
        )
    rev = max(asked.rev, worker.runner.positions(chapter).get("vectors", asked.rev))
    hits = await worker.vectors.search(chapter, question, k=k)
    turns = await _history(worker, chapter, thread, asked.rev, history)

    answer: Answer | None = None
    async for piece in stream_answer(question, hits, llm, history=turns):
        if isinstance(piece, Answer):
            answer = piece
        else:
            yield piece
    if answer is None:  # stream_answer always ends with one; guard against a silent loss
        raise RuntimeError("the answer stream ended without an answer")

    message = new_id()
    body = MessagePosted(
        thread=thread,
        message=message,
        role="assistant",
        text=answer.text,
        citations=answer.citations,
        answered_at_rev=rev,
        model=answer.model,
        usage=answer.usage,
    )
    # Shielded: a client that hangs up now must not leave it unknown whether the answer landed.
    recorded = await asyncio.shield(chapter_log.append(body, actor=ANSWER_ACTOR))
    if not await _caught_up(worker, chapter, recorded.rev, ["chat"], wait_s):
        log.warning("chapter %s: the chat view is behind rev %d", chapter, recorded.rev)
    yield Asked(
        id=message,
        thread=thread,
        question=question_id,
        text=answer.text,
        citations=_passages(answer.citations, hits),
        rev=rev,
        message_rev=recorded.rev,
        model=answer.model,
        usage=answer.usage,
    )
