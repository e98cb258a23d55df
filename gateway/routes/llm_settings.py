"""A book's LLM settings over HTTP: which model answers its chapters' questions.

Any member may see what answers (GET); the owner and admins change it (PUT) or go back to the
server's default (DELETE). The API key is write-only: it is stored encrypted in the accounts store
(app/book_llms.py, `BookLLMs`) and answers only say `has_api_key`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from app.book_llms import KEEP_KEY, BookLLMs, BookLLMSettings, LLMChoice
from gateway.deps import CurrentUser, ServicesDep
from gateway.errors import error_responses
from gateway.routes.books import MemberBook

__all__ = ["BookLLMsDep", "LLMSettingsPublic", "LLMSettingsUpdate", "get_book_llms", "router"]


class LLMSettingsUpdate(BaseModel):
    """The LLM a book's questions go to."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    kind: Literal["openai", "gemini", "ollama", "anthropic", "extractive"]
    """The API spoken: openai (also any OpenAI-compatible server), gemini, ollama, anthropic; or
    extractive (no LLM: answers are the best passages, cited)."""
    model: Annotated[str, Field(max_length=200)] = ""
    """The provider's model name; empty picks the provider's default."""
    base_url: Annotated[str | None, Field(max_length=2000)] = None
    """Where the API is (an OpenAI-compatible server's URL ends in /v1); null for the provider's
    public endpoint. No credentials or query in it: the key goes in `api_key`."""
    api_key: Annotated[SecretStr | None, Field(max_length=4096)] = None
    """The key, stored encrypted and never shown again. Leave it out to keep the stored key (kept
    only while kind and base_url stay the same); null or "" for no key."""


class LLMSettingsPublic(BaseModel):
    """What answers a book's questions (never the key)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    source: Literal["book", "server", "none"]
    """book: the book's own settings; server: the server's default; none: extractive answers."""
    kind: str
    """openai, gemini, ollama, anthropic or extractive."""
    model: str
    """The model name (empty for extractive)."""
    base_url: str | None = None
    """The book's API URL; null for a public endpoint or the server's default."""
    has_api_key: bool = False
    """Whether the book has a key stored."""


def get_book_llms(request: Request, services: ServicesDep) -> BookLLMs:
    """The app's `BookLLMs` (made on first use; its clients close with the services)."""
    llms: BookLLMs | None = getattr(request.app.state, "book_llms", None)
    if llms is None:
        llms = BookLLMs(services.accounts, default=services.read.llm)
        request.app.state.book_llms = llms
        services.stack.push_async_callback(llms.aclose)
    return llms


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
