"""`Annotated` dependencies for handlers: the services, and who is calling.

    async def read_me(user: CurrentUser) -> UserPublic: ...
    async def read_books(services: ServicesDep, user: CurrentUser) -> ...: ...

The bearer token is resolved once per request (FastAPI caches a dependency within a request),
however many of `CurrentUser`, `TokenInfoDep` and `AuthDep` a handler asks for. A missing token
is `NotAuthenticated`; an unknown, revoked or expired one is the accounts store's `InvalidToken`
or `TokenExpired`: all 401 with a `WWW-Authenticate` challenge (gateway/errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.services import Services
from engine.accounts import AccountError, TokenInfo, User
from engine.rules import Action, ChapterEntry
from engine.shares import ShareAccess
from gateway.errors import NotAuthenticated
from gateway.ratelimit import RateLimits, client_address

__all__ = [
    "SHARE_TOKEN_HEADER",
    "Auth",
    "AuthDep",
    "CurrentUser",
    "ManagedChapter",
    "ReadableChapter",
    "ServicesDep",
    "ShareDep",
    "TokenInfoDep",
    "WritableChapter",
    "get_auth",
    "get_services",
    "get_share",
]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`rs_…`) from /v1/auth/signup, /v1/auth/login or /v1/auth/tokens.",
)

# Failures that may be someone guessing tokens: they also cost the caller's address.
_GUESS_CODES = frozenset({"invalid_token", "token_expired"})


def get_services(request: Request) -> Services:
    """The services the app was created with."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
"""The process's `Services`."""


@dataclass(frozen=True, slots=True)
class Auth:
    """The caller: a user and the token they used."""

    user: User
    token: TokenInfo


async def get_auth(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Auth:
    """Resolve the bearer token; 401 when it is missing, unknown, revoked or expired."""
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated(
            "this route needs an API token: send 'Authorization: Bearer <token>'"
        )
    try:
        user, info = await services.accounts.resolve_token(credentials.credentials)
    except AccountError as exc:
        if exc.code in _GUESS_CODES:
            limits: RateLimits = request.app.state.rate_limits
            limits.check_address(client_address(request.scope))  # RateLimited wins over 401
        raise
    # Someone invited by e-mail before their account existed becomes a member on arrival. The
    # check is in memory; it appends only when an invitation is pending, i.e. once.
    await services.books.claim_invitations(user.id, user.email)
    return Auth(user=user, token=info)


AuthDep = Annotated[Auth, Depends(get_auth)]
"""The calling user and token together."""


async def get_current_user(auth: AuthDep) -> User:
    """The calling user."""
    return auth.user


async def get_token_info(auth: AuthDep) -> TokenInfo:
    """The facts of the token the caller used."""
    return auth.token


CurrentUser = Annotated[User, Depends(get_current_user)]
"""The calling user (engine.accounts.User); the route answers 401 without a valid token."""

TokenInfoDep = Annotated[TokenInfo, Depends(get_token_info)]
"""The calling token's public facts (engine.accounts.TokenInfo)."""


async def _chapter(services: Services, user: User, chapter: str, action: Action) -> ChapterEntry:
    return await services.books.chapter_access(user.id, chapter, action)


async def get_readable_chapter(
    services: ServicesDep, user: CurrentUser, chapter: str
) -> ChapterEntry:
    """The path's `{chapter}` if the caller may read it; 404 for a chapter they cannot see."""
    return await _chapter(services, user, chapter, "read")


async def get_writable_chapter(
    services: ServicesDep, user: CurrentUser, chapter: str
) -> ChapterEntry:
    """The path's `{chapter}` if the caller may change its content."""
    return await _chapter(services, user, chapter, "write")


async def get_managed_chapter(
    services: ServicesDep, user: CurrentUser, chapter: str
) -> ChapterEntry:
    """The path's `{chapter}` if the caller may rename, reassign, share or delete it."""
    return await _chapter(services, user, chapter, "manage")


ReadableChapter = Annotated[ChapterEntry, Depends(get_readable_chapter)]
"""A chapter the caller may read (path parameter `chapter`)."""
WritableChapter = Annotated[ChapterEntry, Depends(get_writable_chapter)]
"""A chapter the caller may add to, edit and ask (path parameter `chapter`)."""
ManagedChapter = Annotated[ChapterEntry, Depends(get_managed_chapter)]
"""A chapter the caller may manage (path parameter `chapter`)."""

SHARE_TOKEN_HEADER = "X-Share-Token"
"""Where a guest's routes take a share's token (never the query string: it must not be logged)."""

_share_token = APIKeyHeader(
    name=SHARE_TOKEN_HEADER,
    auto_error=False,
    scheme_name="share",
    description="A share's token, from the share's grant (`POST /v1/chapters/{chapter}/shares`).",
)


async def get_share(
    services: ServicesDep, token: Annotated[str | None, Depends(_share_token)]
) -> ShareAccess:
    """The share the request's `X-Share-Token` opens: 401 without one, 404 for an unknown one,
    403 for one revoked, expired or stopped by its book's policy."""
    if not token:
        raise NotAuthenticated(
            f"this route needs a share's token in the {SHARE_TOKEN_HEADER} header"
        )
    return await services.shares.resolve(token)


ShareDep = Annotated[ShareAccess, Depends(get_share)]
"""The share a guest's request is made under (header `X-Share-Token`)."""
