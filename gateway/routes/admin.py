"""The server operator's routes: what only the people who run the server decide.

    PUT /v1/admin/books/{book}/plan   {"plan": "free" | "paid"}

An operator is a signed-in user whose e-mail address the server's settings list
(`operators = [...]` in ragstack.toml, or `RAGSTACK_OPERATORS`); to anyone else these routes do
not exist (404). A plan is an event in the book's log (`PlanChanged`), so history shows when a
book changed plan; a paid book's proxied shares tick every minute, a free one's every ten.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict

from gateway.deps import CurrentUser, ServicesDep
from gateway.errors import error_responses

__all__ = ["PlanUpdate", "router"]


class PlanUpdate(BaseModel):
    """A book's plan."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", strict=True)

    plan: Literal["free", "paid"]
    """free (the default) or paid."""


class PlanPublic(BaseModel):
    """A book's plan after the change."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    book: str
    plan: str


router = APIRouter(tags=["admin"], responses=error_responses(401, 404))


@router.put("/admin/books/{book}/plan")
async def update_plan(
    body: PlanUpdate,
    services: ServicesDep,
    user: CurrentUser,
    book: Annotated[str, Path(max_length=64, description="The book's id.")],
) -> PlanPublic:
    """Put a book on a plan (the server's operators only)."""
    state = await services.books.set_plan(
        user.id, user.email, book, body.plan, operators=services.settings.operators
    )
    return PlanPublic(book=state.id, plan=state.plan)
