"""`Annotated` dependencies for handlers: the services, and who is calling.

    async def read_me(user: CurrentUser) -> UserPublic: ...
    async def read_books(services: ServicesDep, user: CurrentUser) -> ...: ...

The caller is resolved once per request (FastAPI caches a dependency within a request), however
many of `CurrentUser`, `TokenInfoDep` and `AuthDep` a handler asks for: by the bearer token if
the request has an `Authorization` header, else by the browser's session cookie, whose writes
must carry the CSRF header (gateway/session_cookies.py). A missing credential is
`NotAuthenticated`; an unknown, revoked or expired bearer token is the accounts store's
`InvalidToken` or `TokenExpired`, such a session `SessionExpired` (and the answer clears the
cookie): all 401 with a `WWW-Authenticate` challenge (gateway/errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.services import Services
from engine.accounts import AccountError, TokenInfo, User
from engine.rules import Action, ChapterEntry
from engine.shares import ShareAccess
from gateway.errors import NotAuthenticated
from gateway.ratelimit import RateLimits, client_address
from gateway.session_cookies import (
    CSRF_HEADER,
    SESSION_COOKIE,
    UNSAFE_METHODS,
    CsrfFailed,
    SessionExpired,
    SessionKeys,
    clearing_headers,
    is_https,
    session_token,
)

__all__ = [
    "SHARE_TOKEN_HEADER",
    "Auth",
    "AuthDep",
    "CurrentUser",
    "ManagedChapter",
    "ReadableChapter",
    "ServicesDep",
    "SessionAuthDep",
    "ShareDep",
    "TokenInfoDep",
    "WritableChapter",
    "get_auth",
    "get_services",
    "get_session_auth",
    "get_share",
    "session_auth",
]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`rs_…`) from /v1/auth/signup, /v1/auth/login or /v1/auth/tokens.",
)

_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description=(
        "A browser session from POST /v1/auth/session (named `__Host-rs_session` over https)."
        f" Every POST, PUT, PATCH and DELETE made with it must also send `{CSRF_HEADER}`: the"
        " `csrf_token` the session was started with (or GET /v1/auth/session)."
    ),
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
    """The caller: a user, the token they used, and how it came (header or session cookie)."""

    user: User
    token: TokenInfo
    via: Literal["bearer", "session"] = "bearer"
    """`bearer` for `Authorization: Bearer …`, `session` for the browser's session cookie."""
    secret: str = field(default="", repr=False)
    """The token itself, to check later that it still holds (a long-lived stream)."""


async def get_auth(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _cookie: Annotated[str | None, Depends(_session_cookie)],
) -> Auth:
    """The bearer token, else the session cookie (with the CSRF header on a write); 401 when
    neither is there or the token is unknown, revoked or expired, 403 `csrf_failed`."""
    if credentials is not None and credentials.credentials:
        user, info = await _resolve(request, services, credentials.credentials)
        auth = Auth(user=user, token=info, via="bearer", secret=credentials.credentials)
    else:
        auth = await session_auth(request, services)
    # Someone invited by e-mail before their account existed becomes a member on arrival. The
    # check is in memory; it appends only when an invitation is pending, i.e. once.
    await services.books.claim_invitations(auth.user.id, auth.user.email)
    return auth


async def get_session_auth(
    request: Request,
    services: ServicesDep,
    _cookie: Annotated[str | None, Depends(_session_cookie)],
) -> Auth:
    """The caller by the browser's session cookie alone, whatever other header the request has."""
    auth = await session_auth(request, services)
    await services.books.claim_invitations(auth.user.id, auth.user.email)
    return auth


SessionAuthDep = Annotated[Auth, Depends(get_session_auth)]
"""The caller by their session cookie (never a bearer header): for the session's own routes."""


async def session_auth(request: Request, services: Services) -> Auth:
    """The caller by their session cookie alone: 401 without one, `session_expired` for one
    whose token no longer holds, 403 `csrf_failed` for a write without the session's CSRF value."""
    token = session_token(request.scope)
    if token is None:
        raise NotAuthenticated(
            "this route needs an API token ('Authorization: Bearer <token>') or a browser"
            " session (POST /v1/auth/session)"
        )
    keys: SessionKeys = request.app.state.session_keys
    if request.method in UNSAFE_METHODS and not keys.check(token, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed(
            f"a change made with the session cookie needs the session's {CSRF_HEADER} header"
        )
    try:
        user, info = await _resolve(request, services, token)
    except AccountError as exc:
        if exc.code not in _GUESS_CODES:
            raise
        raise SessionExpired(
            "the session has ended (signed out, revoked or expired): sign in again",
            headers=clearing_headers(is_https(request.scope)),
        ) from None
    return Auth(user=user, token=info, via="session", secret=token)


async def _resolve(request: Request, services: Services, token: str) -> tuple[User, TokenInfo]:
    try:
        return await services.accounts.resolve_token(token)
    except AccountError as exc:
        if exc.code in _GUESS_CODES:
            limits: RateLimits = request.app.state.rate_limits
            limits.check_address(client_address(request.scope))  # RateLimited wins over 401
        raise


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
