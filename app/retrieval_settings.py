"""How a book's chapters are searched: the search mode and the coverage threshold.

    retrieval = BookRetrieval(services.accounts)
    settings = await retrieval.for_book(book)     # stored, else the defaults
    hits = await vectors.search(chapter, q, mode=settings.mode)

`mode` is `vector`, `lexical` or `hybrid` (the default: both, fused); `min_similarity` is the
cosine below which the best passage does not cover a question and the answer says so (the
default is calibrated by bench/bench_quality.py, docs/quality.md). They live in the accounts
store beside the book's LLM settings (scope `book:<id>`, `retrieval.config`, JSON): the store
every process serving the book reads. Nothing in them is secret, but that store is where a
book's server-side settings are kept.
"""

from __future__ import annotations

import msgspec

from app.answers import DEFAULT_MIN_SIMILARITY
from engine.accounts import AccountStore, DecryptionFailed
from engine.errors import EngineError
from engine.rules import Invalid
from projections.vectors import DEFAULT_SEARCH_MODE, SEARCH_MODES, SearchMode

__all__ = ["BookRetrieval", "RetrievalSettings", "RetrievalSettingsUnreadable"]

CONFIG_SECRET = "retrieval.config"


class RetrievalSettingsUnreadable(EngineError):
    """A book's stored retrieval settings do not decode (HTTP 500); setting them again repairs
    them."""

    code = "retrieval_settings_unreadable"


class RetrievalSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A book's search settings."""

    mode: SearchMode = DEFAULT_SEARCH_MODE
    min_similarity: float = DEFAULT_MIN_SIMILARITY
    """Cosine similarity in [-1, 1]; -1 never refuses."""


def check(settings: RetrievalSettings) -> RetrievalSettings:
    """`settings`, or Invalid naming what cannot work."""
    if settings.mode not in SEARCH_MODES:
        raise Invalid(f"the search mode must be one of {', '.join(SEARCH_MODES)}")
    if not -1.0 <= settings.min_similarity <= 1.0:
        raise Invalid("min_similarity is a cosine similarity, between -1 and 1")
    return settings


class BookRetrieval:
    """Each book's retrieval settings, read from and written to the accounts store."""

    def __init__(self, accounts: AccountStore) -> None:
        self.accounts = accounts

    async def for_book(self, book: str) -> RetrievalSettings:
        """The book's settings, or the defaults when it has none."""
        try:
            raw = await self.accounts.get_secret(f"book:{book}", CONFIG_SECRET)
        except DecryptionFailed:
            raise RetrievalSettingsUnreadable(
                "this book's retrieval settings cannot be read; set them again"
            ) from None
        if raw is None:
            return RetrievalSettings()
        try:
            return check(msgspec.json.decode(raw, type=RetrievalSettings))
        except (msgspec.DecodeError, msgspec.ValidationError, Invalid):
            raise RetrievalSettingsUnreadable(
                "this book's retrieval settings cannot be read; set them again"
            ) from None

    async def put(self, book: str, settings: RetrievalSettings) -> RetrievalSettings:
        """Store the book's settings (checked first: nothing is stored when Invalid)."""
        check(settings)
        await self.accounts.put_secret(
            f"book:{book}", CONFIG_SECRET, msgspec.json.encode(settings).decode()
        )
        return settings

    async def delete(self, book: str) -> RetrievalSettings:
        """Forget the book's settings; the defaults apply again."""
        await self.accounts.delete_secret(f"book:{book}", CONFIG_SECRET)
        return RetrievalSettings()
