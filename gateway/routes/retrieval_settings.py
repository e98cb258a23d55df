"""A book's retrieval settings: GET, PUT (owner and admins), DELETE back to the defaults
(app/retrieval_settings.py)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.answers import DEFAULT_MIN_SIMILARITY
from app.retrieval_settings import RetrievalSettings
from gateway.deps import CurrentUser, ServicesDep
from gateway.errors import error_responses
from gateway.routes.books import MemberBook
from projections.vectors import DEFAULT_SEARCH_MODE, SearchMode

__all__ = ["RetrievalSettingsBody", "router"]


class RetrievalSettingsBody(BaseModel):
    """How the book's chapters are searched, and when an answer says the sources don't cover
    the question."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # The defaults are the app's own (one home each), not copies of their values.
    mode: SearchMode = DEFAULT_SEARCH_MODE
    """`vector` (meaning), `lexical` (words: names, codes, numbers) or `hybrid` (both)."""
    min_similarity: float = Field(default=DEFAULT_MIN_SIMILARITY, ge=-1.0, le=1.0)
    """The best passage's cosine similarity below which the answer says the sources don't
    cover the question."""


def _public(settings: RetrievalSettings) -> RetrievalSettingsBody:
    return RetrievalSettingsBody(mode=settings.mode, min_similarity=settings.min_similarity)


router = APIRouter(tags=["retrieval"], responses=error_responses(401, 403, 404))


@router.get("/books/{book}/retrieval")
async def read_retrieval_settings(book: MemberBook, services: ServicesDep) -> RetrievalSettingsBody:
    """The book's search mode and coverage threshold (the defaults when never set)."""
    return _public(await services.retrieval.for_book(book.id))


@router.put("/books/{book}/retrieval")
async def update_retrieval_settings(
    body: RetrievalSettingsBody, book: MemberBook, user: CurrentUser, services: ServicesDep
) -> RetrievalSettingsBody:
    """Set the book's search mode and coverage threshold (owner and admins)."""
    book.require_admin(user.id)
    settings = RetrievalSettings(mode=body.mode, min_similarity=body.min_similarity)
    return _public(await services.retrieval.put(book.id, settings))


@router.delete("/books/{book}/retrieval")
async def delete_retrieval_settings(
    book: MemberBook, user: CurrentUser, services: ServicesDep
) -> RetrievalSettingsBody:
    """Forget the book's settings (owner and admins): the defaults apply."""
    book.require_admin(user.id)
    return _public(await services.retrieval.delete(book.id))
