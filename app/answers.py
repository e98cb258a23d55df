"""Answers: a prompt of numbered passages, a streamed answer, and the citations it used.

With a language model, the answer is written by the model from the passages and cites them as
[1], [2]…; the citations recorded are exactly the passages it cited. Without one, the answer is
extractive: the best passages themselves, cited, and the text says so.
"""

import re
from collections.abc import AsyncIterator, Sequence

import msgspec

import rust_core
from events import Citation, Retrieval, TokenUsage
from projections.providers.llm import LLM, ChatMessage, Usage
from projections.vectors import SearchHit

EXTRACTIVE_MODEL = "extractive"
SYSTEM_PROMPT = (
    "You answer questions about a collection of documents. Use only the numbered passages "
    "below. Cite every statement with the passage numbers in square brackets, like [1] or "
    "[2][3]. If the passages do not contain the answer, say that you could not find it in the "
    "sources. Answer in the language of the question. When a passage's heading names its "
    "work as Author (Year), name it that way too, like: Smith (2020) [1]."
)
_CITE = re.compile(r"\[(\d{1,3})\]")
_EXTRACT_CHARS = 600


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """A finished answer, ready to become a `MessagePosted`."""

    text: str
    citations: list[Citation]
    model: str
    usage: TokenUsage | None = None


def _where(hit: SearchHit) -> str:
    # A work from a reference library is named the way people cite it: "Smith (2020), …".
    parts = [hit.cite] if hit.cite else []
    parts.append(hit.source_name or hit.source)
    if hit.span.page is not None:
        parts.append(f"page {hit.span.page}")
    if hit.span.heading:
        parts.append(hit.span.heading)
    return ", ".join(parts)


def build_prompt(
    question: str, hits: Sequence[SearchHit], history: Sequence[ChatMessage] = ()
) -> list[ChatMessage]:
    """System instructions with the numbered passages, earlier turns, then the question."""
    passages = "\n\n".join(
        f"[{n}] ({_where(hit)})\n{hit.text.strip()}" for n, hit in enumerate(hits, start=1)
    )
    system = f"{SYSTEM_PROMPT}\n\nPassages:\n\n{passages or '(none found)'}"
    return [
        ChatMessage(role="system", content=system),
        *history,
        ChatMessage(role="user", content=question),
    ]


def passages_digest(passages: Sequence[tuple[str, str]]) -> str:
    """BLAKE3 hex of retrieved passages, `(source, chunk)` each, one `<source>:<chunk>` line each
    in rank order: what `Retrieval.passages` records and a re-run is compared with."""
    lines = "".join(f"{source}:{chunk}\n" for source, chunk in passages)
    return rust_core.hash(lines.encode()).hex()


def retrieval_of(
    *, embedder: str, index: str, k: int, tags: Sequence[str], hits: Sequence[SearchHit]
) -> Retrieval:
    """The retrieval fingerprint an answer records (see `events.Retrieval`)."""
    return Retrieval(
        embedder=embedder,
        index=index,
        k=k,
        tags=sorted(set(tags)),
        passages=passages_digest([(h.source, h.chunk) for h in hits]),
    )


def citation_of(hit: SearchHit) -> Citation:
    """The citation recorded for a passage."""
    return Citation(
        source=hit.source,
        chunk=hit.chunk,
        start=hit.span.start,
        end=hit.span.end,
        page=hit.span.page,
        heading=hit.span.heading,
    )


def cited(text: str, hits: Sequence[SearchHit]) -> list[Citation]:
    """The passages `text` cites by number, in order of first mention, each once."""
    seen: list[int] = []
    for match in _CITE.finditer(text):
        n = int(match.group(1))
        if 1 <= n <= len(hits) and n not in seen:
            seen.append(n)
    return [citation_of(hits[n - 1]) for n in seen]


def extractive_answer(hits: Sequence[SearchHit], *, limit: int = 3) -> Answer:
    """The best passages, cited, for when no language model is configured."""
    best = list(hits[:limit])
    if not best:
        text = (
            "No language model is configured, and no passage in this chapter matches the question."
        )
        return Answer(text=text, citations=[], model=EXTRACTIVE_MODEL)
    lines = ["No language model is configured; these are the most relevant passages:"]
    for n, hit in enumerate(best, start=1):
        excerpt = " ".join(hit.text.split())
        if len(excerpt) > _EXTRACT_CHARS:
            excerpt = excerpt[:_EXTRACT_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"[{n}] {excerpt} ({_where(hit)})")
    return Answer(
        text="\n\n".join(lines),
        citations=[citation_of(hit) for hit in best],
        model=EXTRACTIVE_MODEL,
    )


async def stream_answer(
    question: str,
    hits: Sequence[SearchHit],
    llm: LLM | None,
    *,
    history: Sequence[ChatMessage] = (),
    max_tokens: int = 1024,
) -> AsyncIterator[str | Answer]:
    """Text deltas as the answer is written, then the finished `Answer` (exactly once).

    A provider failure mid-stream propagates (as a ProviderError) and no `Answer` is yielded, so
    the caller records nothing half-written.
    """
    if llm is None:
        answer = extractive_answer(hits)
        yield answer.text
        yield answer
        return
    parts: list[str] = []
    usage = Usage()
    async for piece in llm.stream(build_prompt(question, hits, history), max_tokens=max_tokens):
        if isinstance(piece, Usage):
            usage = piece
        else:
            parts.append(piece)
            yield piece
    text = "".join(parts)
    yield Answer(
        text=text,
        citations=cited(text, hits),
        model=llm.name,
        usage=TokenUsage(prompt=usage.prompt, completion=usage.completion),
    )
