"""Follow-up questions made standalone before retrieval (issue 14).

"And what do they hunt?" means nothing to a search index: the thread's earlier turns say who
"they" are. In a thread with earlier turns the question is rewritten into a standalone search
query; the answer records it (`MessagePosted.query`) and GET …/provenance re-runs it.

- **With a language model** (the book's, else the server's): a short prompt of the recent turns
  and the question, answered in at most 64 tokens at temperature 0. Its first line, unquoted, is
  the query. A provider that fails, times out or answers nothing leaves the question as it is:
  rewriting improves retrieval, it must never cost the answer.
- **Without one** (the extractive answerer), a fixed rule: a question that refers back — a
  pronoun or demonstrative ("it", "they", "that"…), or at most two words besides stop words
  ("And bees?", "Why not?") — gets the previous question's content words that it lacks appended,
  in their order. Any other question is searched as asked: three content words already make a
  search ("Which passage mentions Middlemarch?"), and borrowing terms would let the previous
  question's rare words vouch for a new one's coverage.

A first question (no earlier turn) is never rewritten.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from projections.lexical import STOPWORDS
from projections.providers import LLM, ChatMessage, Usage
from projections.providers.errors import ProviderError

__all__ = ["REWRITE_MAX_TOKENS", "REWRITE_PROMPT", "standalone_query"]

log = logging.getLogger(__name__)

REWRITE_PROMPT = (
    "You turn a follow-up question into a standalone search query for a document collection. "
    "Use the conversation only to resolve what the question refers to (pronouns, an omitted "
    "subject). Keep names, codes and numbers exactly as written. Reply with the query alone, "
    "on one line, in the language of the question, without quotes or explanation."
)
REWRITE_MAX_TOKENS = 64
REWRITE_TIMEOUT_S = 15.0
"""How long the model may take to rewrite before the question is searched as asked."""
MAX_QUERY_CHARS = 500
_TURN_CHARS = 600
"""Each earlier turn is cut here in the rewrite prompt: the question, not the answer's detail,
is what a follow-up refers to."""
_REFERRING_TEXT = """it its they them their theirs this that these those he him his she her hers
    there one ones such same former latter"""
_REFERRING = frozenset(_REFERRING_TEXT.split())
_SHORT_WORDS = 2
_APPENDED_TERMS = 8
_WORD = re.compile(r"\w+")
_LABEL = re.compile(r"^(standalone\s+)?(search\s+)?query\s*:\s*", re.IGNORECASE)


async def standalone_query(
    question: str,
    turns: Sequence[ChatMessage],
    llm: LLM | None,
    *,
    timeout_s: float = REWRITE_TIMEOUT_S,
) -> tuple[str, Usage]:
    """The query to search for `question`, asked after `turns` (earlier user and assistant
    messages of the thread, oldest first): the question itself when there is no earlier turn,
    else rewritten by `llm` or, without one, by the fixed rule (module docstring); and the
    tokens the rewrite cost (zero without a model's call), which the answer's usage counts."""
    if not any(turn.role == "user" for turn in turns):
        return question, Usage()
    if llm is None:
        return _by_rule(question, turns), Usage()
    try:
        async with asyncio.timeout(timeout_s):
            text, usage = await llm.complete(
                _prompt(question, turns), max_tokens=REWRITE_MAX_TOKENS, temperature=0.0
            )
    except (ProviderError, TimeoutError) as exc:
        # The reason only: the provider's message never carries the question or a key.
        log.warning("rewriting a follow-up question failed, searching it as asked: %s", exc)
        return question, Usage()
    return _cleaned(text) or question, usage


def _prompt(question: str, turns: Sequence[ChatMessage]) -> list[ChatMessage]:
    lines = []
    for turn in turns:
        text = " ".join(turn.content.split())
        if len(text) > _TURN_CHARS:
            text = text[:_TURN_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"{'User' if turn.role == 'user' else 'Assistant'}: {text}")
    conversation = "\n".join(lines)
    return [
        ChatMessage(role="system", content=REWRITE_PROMPT),
        ChatMessage(
            role="user",
            content=f"Conversation:\n{conversation}\n\nFollow-up question: {question}\n\n"
            "Standalone search query:",
        ),
    ]


def _cleaned(text: str) -> str:
    """The model's first non-empty line, without a "Query:" label or surrounding quotes."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = _LABEL.sub("", line).strip().strip("\"'“”‘’`").strip()
    line = " ".join(line.split())
    if len(line) > MAX_QUERY_CHARS:
        line = line[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
    return line


def _by_rule(question: str, turns: Sequence[ChatMessage]) -> str:
    words = [w.lower() for w in _WORD.findall(question)]
    content = [w for w in words if w not in STOPWORDS]
    refers_back = any(w in _REFERRING for w in words) or len(content) <= _SHORT_WORDS
    previous = next((t.content for t in reversed(turns) if t.role == "user"), "")
    if not refers_back or not previous:
        return question
    have = set(words)
    added: list[str] = []
    for word in _WORD.findall(previous):
        lower = word.lower()
        if lower in STOPWORDS or lower in have or lower in _REFERRING:
            continue
        have.add(lower)
        added.append(word)
        if len(added) == _APPENDED_TERMS:
            break
    return f"{question} {' '.join(added)}" if added else question
