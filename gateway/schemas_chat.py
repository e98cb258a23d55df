"""Public shapes of the chat routes (gateway/routes/chat.py): threads, messages, answers.

The span, usage and recorded-citation shapes are the shared ones of gateway/schemas.py, held in
step with `events.Span`, `events.TokenUsage` and `events.Citation` by a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.asking import DEFAULT_K, MAX_K, MAX_QUESTION_CHARS, MAX_TITLE_CHARS
from gateway.schemas import MessageCitationPublic, SpanPublic, UsagePublic, WholeFloatsAsInt
from projections.fold import MessageView

__all__ = [
    "AnswerPublic",
    "AskRequest",
    "CitationPublic",
    "MessageCitationPublic",
    "MessageCreate",
    "MessageList",
    "MessagePublic",
    "SpanPublic",
    "ThreadCreate",
    "ThreadList",
    "ThreadPublic",
    "UsagePublic",
]


class _Request(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", strict=True)


class _Public(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


_Question = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)]
_K = Annotated[
    int, Field(ge=1, le=MAX_K, description="How many passages to retrieve."), WholeFloatsAsInt
]


class CitationPublic(_Public):
    """A passage an answer cites."""

    source: str
    """Source id."""
    source_name: str
    chunk: str
    """Chunk hash: with the source and the answer's rev, enough to rebuild the exact context."""
    span: SpanPublic
    text: str
    """The passage."""


class AnswerPublic(_Public):
    """An answer (the answer shape of docs/architecture.md, plus thread, question, message_rev and usage)."""

    id: str
    """The answer's message id."""
    thread: str
    question: str
    """The id of the question's message."""
    text: str
    citations: list[CitationPublic]
    rev: int
    """The chapter rev the answer's retrieval saw."""
    message_rev: int
    """The rev of the answer's own event."""
    model: str
    """Provider and model, e.g. `openai:gpt-4o-mini`, or `extractive`."""
    usage: UsagePublic | None = None
    query: str = ""
    """The standalone query retrieval searched: the question, or a follow-up in a thread
    rewritten with its earlier turns."""


class ThreadCreate(_Request):
    """A new thread."""

    title: Annotated[str, Field(max_length=MAX_TITLE_CHARS)] = ""


class ThreadPublic(_Public):
    """A thread."""

    id: str
    title: str
    actor: str
    """Who started it."""
    created_rev: int
    created_at: int
    """Unix ms."""
    message_count: int
    last_at: int
    """Unix ms of the latest message."""


class ThreadList(_Public):
    """Threads, newest first."""

    threads: list[ThreadPublic]
    next_before: str | None = None
    """Pass as `before` for the next page; null on the last page."""


class MessagePublic(_Public):
    """A question or an answer."""

    id: str
    thread: str
    role: str
    """user or assistant."""
    text: str
    citations: list[MessageCitationPublic]
    rev: int
    answered_at_rev: int | None
    model: str | None
    usage: UsagePublic | None
    actor: str
    at: int
    """Unix ms."""

    @classmethod
    def of(cls, view: MessageView, names: Mapping[str, str]) -> MessagePublic:
        """A recorded message, each citation's span gathered and its source named from `names`."""
        m = view
        return cls(
            id=m.id, thread=m.thread, role=m.role, text=m.text,
            citations=[
                MessageCitationPublic(
                    source=c.source, source_name=names.get(c.source, ""), chunk=c.chunk,
                    span=SpanPublic(start=c.start, end=c.end, page=c.page, heading=c.heading),
                )
                for c in m.citations
            ],
            rev=m.rev, answered_at_rev=m.answered_at_rev, model=m.model,
            usage=None if m.usage is None
            else UsagePublic(prompt=m.usage.prompt, completion=m.usage.completion),
            actor=m.actor, at=m.at,
        )  # fmt: skip


class MessageList(_Public):
    """A thread's messages, oldest first."""

    messages: list[MessagePublic]
    next_after_rev: int | None = None
    """Pass as `after_rev` for the next page; null on the last page."""


class MessageCreate(_Request):
    """A question in a thread."""

    text: _Question
    k: _K = DEFAULT_K
    passthrough: bool = True
    """In a chapter shared with you live whose share allows it: let the owner's model answer
    (false: your own book's model answers over your copy of the chapter)."""
    rev: Annotated[int | None, Field(ge=0, le=2**63 - 1)] = None
    """Answer from the chapter as it was at this rev; null: as it is now."""


class AskRequest(_Request):
    """A question, in a new thread unless one is named."""

    question: _Question
    thread: Annotated[str | None, Field(max_length=64)] = None
    """An existing thread; null starts a new one titled after the question."""
    k: _K = DEFAULT_K
    passthrough: bool = True
    """In a chapter shared with you live whose share allows it: let the owner's model answer
    (false: your own book's model answers over your copy of the chapter)."""
    rev: Annotated[int | None, Field(ge=0, le=2**63 - 1)] = None
    """Answer from the chapter as it was at this rev; null: as it is now."""
