"""Answers: a prompt of numbered passages, a streamed answer, and the citations it used.

With a language model, the answer is written by the model from the passages and cites them as
[1], [2]…; the citations recorded are exactly the passages it cited. Without one, the answer is
extractive: the sentences of the passages that answer the question, quoted and cited, and the
text says so.

Grounding, before either: near-identical passages are dropped (`dedupe`), and when even the best
passage is too far from the question (`covered`: its cosine similarity below the book's
calibrated `min_similarity`, docs/quality.md) the answer says the sources don't cover the
question, with no citation, instead of letting a model invent one.
"""

import math
import re
from collections.abc import AsyncIterator, Sequence

import msgspec

import rust_core
from events import Citation, Retrieval, TokenUsage
from projections.lexical import STOPWORDS
from projections.providers.llm import LLM, ChatMessage, Usage
from projections.vectors import SearchHit

EXTRACTIVE_MODEL = "extractive"
NOT_COVERED_MODEL = "not-covered"
"""The `model` of an answer that says the sources don't cover the question (no model wrote it)."""
NOT_COVERED_TEXT = (
    "The sources in this chapter don't cover this question: no passage is close enough to it "
    "to answer from."
)
DEFAULT_MIN_SIMILARITY = 0.3
"""The cosine similarity (all-MiniLM-L6-v2) below which the best passage does not cover a
question; calibrated by bench/bench_quality.py (docs/quality.md)."""
DUPLICATE_SHINGLES = 0.8
"""Word-trigram Jaccard similarity at which two passages count as the same text."""
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])|\n\s*\n|\n(?=[-*#] )")
_TERM = re.compile(r"\w+")
_QUOTED_SENTENCES = 3
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
    *,
    embedder: str,
    index: str,
    k: int,
    tags: Sequence[str],
    hits: Sequence[SearchHit],
    mode: str = "vector",
) -> Retrieval:
    """The retrieval fingerprint an answer records (see `events.Retrieval`)."""
    return Retrieval(
        embedder=embedder,
        index=index,
        k=k,
        tags=sorted(set(tags)),
        passages=passages_digest([(h.source, h.chunk) for h in hits]),
        mode=mode,
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


def covered(
    similarity: float | None,
    hits: Sequence[SearchHit],
    min_similarity: float,
    *,
    rare_match: bool = False,
) -> bool:
    """Whether the passages can answer: some were found and either a word of the question
    that few chunks hold was found (`rare_match`: a name, a code, a number looked up, which a
    sentence embedding scores low), or no cosine was measured (lexical search), or the best
    cosine reaches `min_similarity`."""
    if not hits:
        return False
    return rare_match or similarity is None or similarity >= min_similarity


def not_covered_answer() -> Answer:
    """The answer when the sources don't cover the question: said plainly, nothing cited."""
    return Answer(text=NOT_COVERED_TEXT, citations=[], model=NOT_COVERED_MODEL)


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _TERM.findall(text.lower())
    return {tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def dedupe(hits: Sequence[SearchHit], *, threshold: float = DUPLICATE_SHINGLES) -> list[SearchHit]:
    """`hits` without those nearly identical to a better one (the same text uploaded twice, a
    page repeated in two sources): word-trigram Jaccard similarity at or above `threshold`."""
    kept: list[tuple[SearchHit, set[tuple[str, ...]]]] = []
    for hit in hits:
        mine = _shingles(hit.text)
        if any(len(mine & theirs) / max(1, len(mine | theirs)) >= threshold for _, theirs in kept):
            continue
        kept.append((hit, mine))
    return [hit for hit, _ in kept]


def _stem(word: str) -> str:
    # A light suffix strip: "nests", "nested", "nesting" meet "nest"; enough to match a
    # question's words to a sentence's without a stemmer's dependency.
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in _TERM.findall(text.lower()) if w not in STOPWORDS}


def split_sentences(text: str) -> list[str]:
    """The sentences of a passage (and its list items and paragraphs), whitespace folded."""
    return [" ".join(s.split()) for s in _SENTENCE_END.split(text) if s and s.strip()]


def answering_sentences(
    question: str, hits: Sequence[SearchHit], *, limit: int = _QUOTED_SENTENCES
) -> list[tuple[int, str]]:
    """(passage index, sentence) of the sentences that answer `question` best, best first.

    A sentence scores the summed rarity (inverse document frequency over all the passages'
    sentences) of the question's words it contains, a little less the lower its passage ranks;
    sentences under half the best score are not quoted. With no word in common, the top
    passage's first sentence stands in (the passages were still the nearest found).
    """
    pool = [(i, sentence) for i, hit in enumerate(hits) for sentence in split_sentences(hit.text)]
    if not pool:
        return []
    wanted = _terms(question)
    found = [_terms(sentence) for _, sentence in pool]
    df: dict[str, int] = {}
    for terms in found:
        for term in terms & wanted:
            df[term] = df.get(term, 0) + 1
    scored = []
    for (i, sentence), terms in zip(pool, found, strict=True):
        score = sum(math.log(1 + len(pool) / df[t]) for t in terms & wanted)
        scored.append((score * (1 - 0.05 * min(i, 10)), i, sentence))
    best = max(score for score, _, _ in scored)
    if best <= 0:
        return [pool[0]]
    ranked = sorted(
        (s for s in scored if s[0] >= best / 2), key=lambda s: (-s[0], s[1])
    )  # fmt: skip
    chosen: list[tuple[int, str]] = []
    for _, i, sentence in ranked:
        if sentence not in (c for _, c in chosen):
            chosen.append((i, sentence))
        if len(chosen) == limit:
            break
    return chosen


def extractive_answer(question: str, hits: Sequence[SearchHit]) -> Answer:
    """The sentences that answer, quoted and cited, for when no language model is configured."""
    if not hits:
        return not_covered_answer()
    quoted = answering_sentences(question, hits)
    order: list[int] = []
    for i, _ in quoted:
        if i not in order:
            order.append(i)
    number = {i: n for n, i in enumerate(order, start=1)}
    lines = ["No language model is configured; from the sources:"]
    for i, sentence in quoted:
        if len(sentence) > _EXTRACT_CHARS:
            sentence = sentence[:_EXTRACT_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"“{sentence}” [{number[i]}] ({_where(hits[i])})")
    return Answer(
        text="\n\n".join(lines),
        citations=[citation_of(hits[i]) for i in order],
        model=EXTRACTIVE_MODEL,
    )


async def stream_answer(
    question: str,
    hits: Sequence[SearchHit],
    llm: LLM | None,
    *,
    history: Sequence[ChatMessage] = (),
    max_tokens: int = 1024,
    is_covered: bool = True,
) -> AsyncIterator[str | Answer]:
    """Text deltas as the answer is written, then the finished `Answer` (exactly once).

    `is_covered` False (see `covered`) answers that the sources don't cover the question, and
    no model is asked. A provider failure mid-stream propagates (as a ProviderError) and no
    `Answer` is yielded, so the caller records nothing half-written.
    """
    if not is_covered or not hits:
        answer = not_covered_answer()
        yield answer.text
        yield answer
        return
    if llm is None:
        answer = extractive_answer(question, hits)
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
