"""Browser sessions over HTTP: sign in, sign up, who is signed in, sign out.

    POST   /v1/auth/session          e-mail and password → the session cookie, the user, a CSRF value
    POST   /v1/auth/session/signup   a new account, signed in at once (its first book too)
    GET    /v1/auth/session          the signed-in user and the CSRF value again (after a reload)
    DELETE /v1/auth/session          sign out: the session's token is revoked, the cookie cleared

The web app uses these; the CLI and the SDK keep their bearer tokens (/v1/auth/login). A session
is an API token with a lifetime, kept in an HttpOnly cookie the page's scripts never see; the
answer carries only the session's CSRF value, which every write made with the cookie must send
back in `X-CSRF-Token`. Why the cookie is SameSite=Strict and how the CSRF value is made:
gateway/session_cookies.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from engine.accounts import AccountError, TokenInfo, User
from gateway.deps import ServicesDep, SessionAuthDep
from gateway.errors import error_responses
from gateway.routes.auth import Password, SignupRequest, first_book
from gateway.schemas import Email, UserPublic, WholeFloatsAsInt
from gateway.session_cookies import (
    CSRF_HEADER,
    CsrfFailed,
    SessionKeys,
    clear_session_cookie,
    is_https,
    session_token,
    set_session_cookie,
)

__all__ = [
    "MAX_WEB_SESSION_TTL_S",
    "WEB_SESSION_TTL_S",
    "SessionCreate",
    "SessionSignup",
    "WebSession",
    "router",
]

WEB_SESSION_TTL_S = 7 * 24 * 3600
"""How long a browser session lasts unless the sign-in asks otherwise."""
MAX_WEB_SESSION_TTL_S = 30 * 24 * 3600
"""The longest browser session: a forgotten laptop's session ends within a month."""

SESSION_TOKEN_NAME = "web session"
"""The label of a session's token in GET /v1/auth/tokens (where it can be revoked too)."""

_SessionTtl = Annotated[
    int,
    Field(ge=1, le=MAX_WEB_SESSION_TTL_S, description="Lifetime of the session in seconds."),
    WholeFloatsAsInt,
]

# Sessions that no longer hold: signing out of one is already done.
_ENDED_CODES = frozenset({"invalid_token", "token_expired", "user_disabled"})


class SessionCreate(BaseModel):
    """Credentials, for a browser session."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", strict=True)

    email: Email
    password: Password
    ttl_s: _SessionTtl = WEB_SESSION_TTL_S
    """How long the session lasts (seconds); at most 30 days."""


class SessionSignup(SignupRequest):
    """A new account, signed in at once."""

    ttl_s: _SessionTtl = WEB_SESSION_TTL_S
    """How long the session lasts (seconds); at most 30 days."""


class WebSession(BaseModel):
    """A browser session: who is signed in, and the value its writes must send (never the token,
    which stays in the HttpOnly cookie)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    user: UserPublic
    csrf_token: str
    """Send it as `X-CSRF-Token` with every POST, PUT, PATCH and DELETE; keep it in memory only."""
    csrf_header: str = CSRF_HEADER
    """The header's name."""
    token_id: str
    """The session's token id (it is listed in GET /v1/auth/tokens and can be revoked there)."""
    expires_at: int | None
    """Unix ms at which the session ends."""


router = APIRouter(prefix="/auth/session", tags=["auth"])


def _keys(request: Request) -> SessionKeys:
    keys: SessionKeys = request.app.state.session_keys
    return keys


def _session(request: Request, user: User, info: TokenInfo, token: str) -> WebSession:
    return WebSession(
        user=UserPublic.model_validate(user),
        csrf_token=_keys(request).csrf_for(token),
        token_id=info.id,
        expires_at=info.expires_at,
    )


async def _start(
    request: Request, response: Response, services: ServicesDep, user: User, ttl_s: int
) -> WebSession:
    token, info = await services.accounts.issue_token(user.id, name=SESSION_TOKEN_NAME, ttl_s=ttl_s)
    set_session_cookie(response, token, secure=is_https(request.scope), max_age=ttl_s)
    response.headers["Cache-Control"] = "no-store"
    return _session(request, user, info, token)


@router.post("", responses=error_responses(401, 403))
async def create_session(
    body: SessionCreate, request: Request, response: Response, services: ServicesDep
) -> WebSession:
    """Sign in: sets the session cookie (HttpOnly, SameSite=Strict) and answers with the user
    and the session's CSRF value."""
    user = await services.accounts.authenticate(body.email, body.password.get_secret_value())
    return await _start(request, response, services, user, body.ttl_s)


@router.post("/signup", status_code=status.HTTP_201_CREATED, responses=error_responses(409))
async def create_session_signup(
    body: SessionSignup, request: Request, response: Response, services: ServicesDep
) -> WebSession:
    """Sign up and sign in at once (a first book too, unless invited to one)."""
    user = await services.accounts.create_user(
        body.email, body.password.get_secret_value(), body.name
    )
    await first_book(services, user)
    return await _start(request, response, services, user, body.ttl_s)


@router.get("", responses=error_responses(401, 403))
async def read_session(request: Request, response: Response, auth: SessionAuthDep) -> WebSession:
    """The browser's session (by its cookie only): the user and the CSRF value, e.g. after a
    reload. 401 `session_expired` (and the cookie cleared) once it has ended."""
    response.headers["Cache-Control"] = "no-store"
    return _session(request, auth.user, auth.token, auth.secret)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403))
async def delete_session(request: Request, response: Response, services: ServicesDep) -> None:
    """Sign out: revoke the session's token and clear the cookie (with the CSRF header, like any
    write made with the cookie). Signing out of a session that has ended, or of none, just
    clears the cookie."""
    token = session_token(request.scope)
    if token is not None:
        if not _keys(request).check(token, request.headers.get(CSRF_HEADER)):
            raise CsrfFailed(f"signing out needs the session's {CSRF_HEADER} header")
        try:
            user, info = await services.accounts.resolve_token(token)
        except AccountError as exc:
            if exc.code not in _ENDED_CODES:
                raise
        else:
            await services.accounts.revoke_token(user.id, info.id)
    clear_session_cookie(response, secure=is_https(request.scope))
