"""Accounts over HTTP: sign-up, login, API tokens, and who am I.

Sign-up and login answer with a fresh API token (30 days unless asked otherwise); scripts make
long-lived named tokens with POST /v1/auth/tokens. A token is shown once, in the answer that
creates it; afterwards only its public facts are listed.
"""

from __future__ import annotations

import logging
from typing import Annotated

import msgspec
from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from app import erasure as app_erasure
from app.services import Services
from engine.accounts import TokenInfo, User
from engine.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from engine.errors import EngineError
from gateway.deps import AuthDep, CurrentUser, ServicesDep
from gateway.errors import error_responses
from gateway.schemas import Email, UserPublic, WholeFloatsAsInt

__all__ = [
    "ErasedPublic",
    "LoginRequest",
    "Password",
    "SessionPublic",
    "SignupRequest",
    "TokenCreate",
    "TokenCreated",
    "TokenList",
    "TokenPublic",
    "first_book",
    "router",
]

log = logging.getLogger("ragstack.gateway")

SESSION_TTL_S = 30 * 24 * 3600
"""Lifetime of the token that sign-up and login hand out, unless the request sets `ttl_s`."""
MAX_TTL_S = 10 * 365 * 24 * 3600
"""Longest token lifetime the accounts store accepts."""

Password = Annotated[
    SecretStr,
    Field(
        max_length=MAX_PASSWORD_LENGTH,
        # The store checks the minimum and says so in plain words (code weak_password).
        json_schema_extra={"minLength": MIN_PASSWORD_LENGTH},
        description=f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
    ),
]
_Label = Annotated[str, Field(max_length=200)]
_Ttl = Annotated[
    int, Field(ge=1, le=MAX_TTL_S, description="Lifetime in seconds."), WholeFloatsAsInt
]


class _Model(BaseModel):
    # strict: a JSON value of the wrong type is refused, never coerced (the document's types hold)
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", strict=True)


class SignupRequest(_Model):
    """A new account."""

    email: Email
    password: Password
    name: _Label = ""
    """Display name."""


class LoginRequest(_Model):
    """Credentials, for a new API token."""

    email: Email
    password: Password
    token_name: _Label = "login"
    """Label of the token this login creates (shown in GET /v1/auth/tokens)."""
    ttl_s: _Ttl | None = SESSION_TTL_S
    """Lifetime of that token in seconds; null never expires."""


class TokenCreate(_Model):
    """A new named API token for the caller."""

    name: _Label = ""
    """A label ("laptop", "ci")."""
    ttl_s: _Ttl | None = None
    """Lifetime in seconds; null (the default) never expires."""


class TokenPublic(BaseModel):
    """An API token's public facts (never the token itself)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    id: str
    """The token's id, for revoking it."""
    name: str
    """Its label."""
    created_at: int
    """Unix ms of issue."""
    expires_at: int | None
    """Unix ms after which it is refused; null never expires."""
    last_used_at: int | None
    """Unix ms of its last use (to within a minute); null if never used."""
    current: bool = False
    """True for the token this request was made with."""


class TokenCreated(TokenPublic):
    """A token just issued: the only time the token itself is shown."""

    token: str
    """The bearer token; store it now, it cannot be shown again."""


class TokenList(BaseModel):
    """The caller's API tokens, oldest first."""

    tokens: list[TokenPublic]


class SessionPublic(BaseModel):
    """A signed-in user and a fresh API token."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    user: UserPublic
    token: str
    """The bearer token for `Authorization: Bearer …`; shown only here."""
    token_id: str
    """The token's id (to revoke it later)."""
    expires_at: int | None
    """Unix ms after which the token is refused; null never expires."""


def _token_public(info: TokenInfo, *, current_id: str | None = None) -> TokenPublic:
    public = TokenPublic.model_validate(info)
    public.current = info.id == current_id
    return public


router = APIRouter(tags=["auth"])

_authenticated = error_responses(401, 403)


@router.post(
    "/auth/signup",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_user(body: SignupRequest, services: ServicesDep) -> SessionPublic:
    """Sign up, and get a first API token (and a first book, unless invited to one)."""
    user = await services.accounts.create_user(
        body.email, body.password.get_secret_value(), body.name
    )
    await first_book(services, user)
    token, info = await services.accounts.issue_token(user.id, name="signup", ttl_s=SESSION_TTL_S)
    return SessionPublic(
        user=UserPublic.model_validate(user),
        token=token,
        token_id=info.id,
        expires_at=info.expires_at,
    )


async def first_book(services: Services, user: User) -> None:
    """Give a new user a book of their own, unless an invitation made them a member already."""
    # Solo users get a book of one (docs/architecture.md), so their first chapter needs no set-up; someone
    # invited by e-mail joins the inviting book here instead.
    try:
        if not await services.books.books_of(user.id, user.email):
            await services.books.create_book(
                user.id, user.email, f"{user.name.strip() or user.email}'s book"
            )
    except EngineError as exc:
        # The account exists already: failing the sign-up now would strand it. POST /v1/books
        # makes the book later.
        log.warning("no first book for new user %s: %s", user.id, exc)


@router.post("/auth/login", responses=error_responses(401, 403))
async def login_user(body: LoginRequest, services: ServicesDep) -> SessionPublic:
    """Exchange an e-mail and password for a new API token."""
    user = await services.accounts.authenticate(body.email, body.password.get_secret_value())
    token, info = await services.accounts.issue_token(
        user.id, name=body.token_name, ttl_s=body.ttl_s
    )
    return SessionPublic(
        user=UserPublic.model_validate(user),
        token=token,
        token_id=info.id,
        expires_at=info.expires_at,
    )


@router.post("/auth/tokens", status_code=status.HTTP_201_CREATED, responses=_authenticated)
async def create_token(body: TokenCreate, services: ServicesDep, user: CurrentUser) -> TokenCreated:
    """Issue a named API token for the caller (for a script, a CI job, another machine)."""
    token, info = await services.accounts.issue_token(user.id, name=body.name, ttl_s=body.ttl_s)
    return TokenCreated(**TokenPublic.model_validate(info).model_dump(), token=token)


@router.get("/auth/tokens", responses=_authenticated)
async def read_tokens(services: ServicesDep, auth: AuthDep) -> TokenList:
    """The caller's API tokens (their facts, not the tokens)."""
    infos = await services.accounts.list_tokens(auth.user.id)
    return TokenList(tokens=[_token_public(i, current_id=auth.token.id) for i in infos])


@router.delete(
    "/auth/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def delete_token(
    token_id: Annotated[str, Path(max_length=64)], services: ServicesDep, user: CurrentUser
) -> None:
    """Revoke one of the caller's tokens (the current one too: that is logging out)."""
    await services.accounts.revoke_token(user.id, token_id)


@router.get("/me", responses=_authenticated)
async def read_me(user: CurrentUser) -> UserPublic:
    """The calling user."""
    return UserPublic.model_validate(user)


class ErasedPublic(BaseModel):
    """What an erasure did."""

    chapters: dict[str, int | None]
    """Per chapter touched: the rev of its ContentErased (None: erased already, nothing new)."""
    blobs_deleted: int
    """How many blobs left this server's blob store."""
    books: list[str] = []
    """Books erased whole (the person was their only member)."""


@router.delete("/me", responses={**_authenticated, **error_responses(409)})
async def erase_me(services: ServicesDep, user: CurrentUser) -> ErasedPublic:
    """Erase the caller (GDPR): their profile and tokens, the chapters assigned to them, their
    messages and threads everywhere, and the books they are the only member of. 409 names a book
    they own alone with other members. Safe to repeat after a failure part-way."""
    done = await app_erasure.erase_person(services, user)
    return ErasedPublic(chapters=done.revs, blobs_deleted=len(done.blobs), books=done.books)


@router.get(
    "/me/export",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}, **_authenticated},
)
async def export_me(services: ServicesDep, user: CurrentUser) -> Response:
    """All of the caller's data as JSON: profile, books, their chapters, their messages."""
    export = await app_erasure.export_person(services, user)
    return Response(content=msgspec.json.encode(export), media_type="application/json")
