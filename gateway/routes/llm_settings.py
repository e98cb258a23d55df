"""A book's LLM settings over HTTP: which model answers its chapters' questions.

Any member may see what answers (GET); the owner and admins change it (PUT) or go back to the
server's default (DELETE). The API key is write-only: it is stored encrypted in the accounts store
(app/book_llms.py, `BookLLMs`) and answers only say `has_api_key`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.book_llms import KEEP_KEY, BookLLMs, BookLLMSettings, LLMChoice
from gateway.deps import CurrentUser, ServicesDep
from gateway.errors import error_responses
from gateway.routes.books import MemberBook
from gateway.schemas_llm import LLMSettingsPublic, LLMSettingsUpdate

__all__ = ["BookLLMsDep", "LLMSettingsPublic", "LLMSettingsUpdate", "get_book_llms", "router"]


def get_book_llms(services: ServicesDep) -> BookLLMs:
    """The services' `BookLLMs` (its clients close with them)."""
    return services.llms


BookLLMsDep = Annotated[BookLLMs, Depends(get_book_llms)]
"""Per-book LLM settings and clients."""


def _public(choice: LLMChoice) -> LLMSettingsPublic:
    return LLMSettingsPublic.model_validate(choice)


router = APIRouter(tags=["llm"], responses=error_responses(401, 403, 404))


@router.get("/books/{book}/llm")
async def read_llm_settings(book: MemberBook, llms: BookLLMsDep) -> LLMSettingsPublic:
    """What answers this book's questions: its own settings, or the server's default."""
    return _public(await llms.choice(book.id))


@router.put("/books/{book}/llm")
async def update_llm_settings(
    body: LLMSettingsUpdate, book: MemberBook, user: CurrentUser, llms: BookLLMsDep
) -> LLMSettingsPublic:
    """Set the book's LLM (owner and admins); settings that cannot work are refused (422)."""
    book.require_admin(user.id)
    if "api_key" in body.model_fields_set:
        api_key = body.api_key.get_secret_value() if body.api_key is not None else None
    else:
        api_key = KEEP_KEY
    settings = BookLLMSettings(kind=body.kind, model=body.model, base_url=body.base_url)
    return _public(await llms.put(book.id, settings, api_key=api_key))


@router.delete("/books/{book}/llm")
async def delete_llm_settings(
    book: MemberBook, user: CurrentUser, llms: BookLLMsDep
) -> LLMSettingsPublic:
    """Forget the book's settings and key (owner and admins); the server's default answers."""
    book.require_admin(user.id)
    return _public(await llms.delete(book.id))
