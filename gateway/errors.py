"""Every error leaves the gateway as JSON `{"error": {"code", "message"}}` with the right status.

One table decides the status: `STATUS_BY_CODE` for errors that carry a stable `code` (the
accounts store's, the logs'), `STATUS_BY_CLASS` for engine errors without one (the rules', the
blob store's, or errors from outside the engine). To map a new error, add one line to the
matching table; an error outside EngineError must go in `STATUS_BY_CLASS` to be caught. Lookup
walks the exception's class hierarchy from the most specific class up, so a subclass can be
mapped apart from its base, and an unmapped subclass inherits its base's status.

Anything not raised on purpose becomes a 500 with code `internal`, a generic message and an
incident id; the traceback goes to the server log under that id, never to the client.

It is one module (about 430 lines): the tables, the JSON shape, the handlers and the 405's
`Allow` are one contract with clients, read together.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import (
    BlobCorrupt,
    BlobNotFound,
    BlobStoreConfigError,
    BlobStoreUnavailable,
    BlobTooLarge,
    EngineError,
    InvalidBlobHash,
)
from engine.rules import Conflict, Forbidden, Invalid, NotFound
from gateway.metrics import route_label
from projections.chat import ChatViewUnavailable, InvalidChatQuery
from projections.providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConfigError,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)

__all__ = [
    "STATUS_BY_CLASS",
    "STATUS_BY_CODE",
    "ApiError",
    "BadRequest",
    "CatchAllMiddleware",
    "ErrorDetail",
    "ErrorResponse",
    "NotAuthenticated",
    "PayloadTooLarge",
    "RateLimited",
    "UnsupportedMediaType",
    "allowed_methods",
    "classify",
    "error_response",
    "error_responses",
    "install_error_handlers",
]

log = logging.getLogger("ragstack.gateway")

BEARER_CHALLENGE = 'Bearer realm="ragstack"'
"""The WWW-Authenticate value sent with every 401 (RFC 6750)."""


# --- the gateway's own errors (raised by dependencies and handlers) ---


class ApiError(Exception):
    """An HTTP-level refusal the gateway itself decides; `status` and `code` are per class."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    """The request cannot be understood (a malformed upload, a contradictory query)."""


class NotAuthenticated(ApiError):
    """The route needs a bearer token and none came."""

    status = 401
    code = "not_authenticated"


class PayloadTooLarge(ApiError):
    """A request body over its limit (before anything reaches the engine)."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    """A body in a media type the route does not take."""

    status = 415
    code = "unsupported_media_type"


class RateLimited(ApiError):
    """Too many requests for a token or an address; retry after `retry_after` seconds."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


# --- the table ---

STATUS_BY_CODE: dict[str, int] = {
    # engine/accounts
    "invalid_argument": 422,
    "invalid_email": 422,
    "weak_password": 422,
    "email_taken": 409,
    "invalid_credentials": 401,
    "invalid_token": 401,
    "token_expired": 401,
    "user_disabled": 403,
    "user_not_found": 404,
    "token_not_found": 404,
    "invalid_share_token": 404,
    "account_store_unavailable": 503,
    # projections/store_postgres.py: the read models' PostgreSQL database
    "views_unavailable": 503,
    # engine/errors.py: the chapter and book logs
    "chapter_not_found": 404,
    "chapter_exists": 409,
    "revision_conflict": 409,
    "event_too_large": 413,
    "log_unavailable": 503,
    "chain_broken": 409,  # a stored event does not verify: the log's state, not a server bug
    # app/asking.py: the index has not caught up with a question in time
    "index_behind": 503,
    # app/asof.py: a rev the chapter does not have, or a range the wrong way round
    "rev_out_of_range": 400,
    # app/peers.py: another server, reached for a share, did not answer as one should
    "peer_unavailable": 502,
    # engine/connectors/, app/connectors.py: a remote library kept in step with a chapter
    "connector_not_found": 404,
    "connector_busy": 409,
    "connector_failed": 502,
    "connector_credential_rejected": 502,
    "connector_unavailable": 503,
    "zotero_dir_unreadable": 422,
    "vault_unreadable": 422,
    # engine/connectors/oauth.py, app/oauth.py: signing a connector in
    "oauth_not_configured": 409,
    "oauth_flow_not_found": 404,
    "oauth_failed": 502,
    "oauth_denied": 502,
}
"""Status for an error's own `code` (a class attribute, or an attribute set on the instance)."""

STATUS_BY_CLASS: dict[type[BaseException], tuple[int, str]] = {
    # engine/rules.py: who may do what
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    Invalid: (422, "invalid_argument"),
    # engine/errors.py: the blob store
    InvalidBlobHash: (422, "invalid_blob_hash"),
    BlobNotFound: (404, "blob_not_found"),
    BlobTooLarge: (413, "blob_too_large"),
    BlobCorrupt: (500, "blob_corrupt"),
    BlobStoreConfigError: (500, "blob_store_config"),
    BlobStoreUnavailable: (503, "blob_store_unavailable"),
    # projections/chat.py: the chat view
    InvalidChatQuery: (422, "invalid_argument"),
    ChatViewUnavailable: (503, "chat_view_unavailable"),
    # projections/providers: the book's LLM; the message names the provider
    ProviderAuthError: (400, "provider_auth"),
    ProviderBadRequest: (400, "provider_bad_request"),
    ProviderConfigError: (422, "provider_config"),
    ProviderRateLimited: (429, "provider_rate_limited"),
    ProviderUnavailable: (503, "provider_unavailable"),
    ProviderError: (503, "provider_error"),
}
"""Status and code for errors that carry no code of their own."""


def classify(exc: BaseException) -> tuple[int, str]:
    """The (status, code) an error maps to: 500 for anything the tables do not name.

    The status comes from the first mapping up the class hierarchy; the code is the most
    specific one the error declares (so `class ShareRefused(Forbidden): code = "share_refused"`
    answers 403 `share_refused`), else the table's.
    """
    own = exc.__dict__.get("code")
    specific = own if isinstance(own, str) and own else None
    if specific in STATUS_BY_CODE:
        return STATUS_BY_CODE[specific], specific
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_CLASS:
            status, code = STATUS_BY_CLASS[cls]
            return status, specific or code
        # Only a code the class itself declares: an inherited generic one must not shadow
        # a mapping further up.
        code = cls.__dict__.get("code")
        if isinstance(code, str) and code:
            if code in STATUS_BY_CODE:
                return STATUS_BY_CODE[code], specific or code
            specific = specific or code
    return 500, specific or "internal"


# --- the JSON shape ---


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str
    """Stable machine-readable name, e.g. `email_taken`, `rate_limited`, `validation_error`."""
    message: str
    """A sentence for a person."""
    details: list[dict[str, Any]] | None = None
    """For `validation_error`: each offending field as {loc, msg, type}."""


class ErrorResponse(BaseModel):
    """Every error the API returns."""

    error: ErrorDetail


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """The JSON error response; a 401 always carries the bearer challenge."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    merged = dict(headers or {})
    if status == 401:
        merged.setdefault("WWW-Authenticate", BEARER_CHALLENGE)
    return JSONResponse({"error": body}, status_code=status, headers=merged)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` documenting `statuses` with the error shape, for routers and routes."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorResponse, "description": HTTPStatus(status).phrase}
        if status in _ERROR_HEADERS:
            entry["headers"] = _ERROR_HEADERS[status]
        documented[status] = entry
    return documented


_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The bearer challenge (RFC 6750).",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


# --- handlers ---


async def _mapped_error(request: Request, exc: Exception) -> JSONResponse:
    status, code = classify(exc)
    if status >= 500:
        log.error(
            "%s %s failed with %s: %s",
            request.method,
            route_label(request.scope),
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
    return error_response(
        status,
        code,
        str(exc) or HTTPStatus(status).phrase,
        headers=_retry_after_header(exc, status),
    )


DEFAULT_RETRY_AFTER_S = 10
"""Retry-After for a 429 whose error did not say how long to wait."""


def _retry_after_header(exc: BaseException, status: int) -> dict[str, str]:
    """Retry-After from the error's `retry_after` seconds; a 429 always gets one."""
    seconds = getattr(exc, "retry_after", None)
    if isinstance(seconds, int | float) and seconds > 0:
        return {"Retry-After": str(max(1, math.ceil(seconds)))}
    return {"Retry-After": str(DEFAULT_RETRY_AFTER_S)} if status == 429 else {}


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, headers=exc.headers)


def _field_path(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo `input`: it may be a password.
    details = [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    parts = [
        "the body is not valid JSON"
        if d["type"] == "json_invalid"
        else f"{_field_path(d['loc'])}: {d['msg']}"
        for d in details[:5]
    ]
    if len(details) > 5:
        parts.append(f"and {len(details) - 5} more")
    message = "invalid request: " + ("; ".join(parts) or "the request does not match the schema")
    # A field check that names its error by one of our codes (the e-mail's `invalid_email`)
    # answers with that code, as the store would have.
    types = {d["type"] for d in details}
    own = types.pop() if len(types) == 1 else None
    code = own if own is not None and STATUS_BY_CODE.get(own) == 422 else "validation_error"
    return error_response(422, code, message, details=details)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    message = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    if message is None and exc.status_code == 404:
        message = f"no route matches {request.method} {request.url.path}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        message = message or f"{request.method} is not allowed here"
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(exc.status_code, code, message or phrase, headers=headers)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
"""The methods a 405's `Allow` may name, in the order it names them."""


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path.

    Starlette's own 405 names only the methods of the first route whose path matched, and FastAPI
    makes one route per method, so `Allow: GET` would hide the POST beside it.
    """
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


class CatchAllMiddleware:
    """Turns an unexpected exception into a 500 JSON error and logs it with an incident id.

    It sits inside the other middleware so that metrics see the 500. Starlette's own
    ServerErrorMiddleware would re-raise after answering, making the server log it twice.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            incident = secrets.token_hex(6)
            log.error(
                "unexpected error (incident %s) in %s %s",
                incident,
                scope.get("method", "?"),
                route_label(scope),
                exc_info=exc,
            )
            if started:
                # Half an answer was sent; ending without completing it drops the connection,
                # which the client sees as a truncated response.
                return
            response = error_response(
                500, "internal", f"an unexpected error occurred (incident {incident})"
            )
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error the app can raise to the JSON shape (see the module docstring)."""
    # Starlette picks a handler by the exception's class hierarchy: EngineError covers every
    # engine error; classes from elsewhere that the table names get the same handler.
    for cls in (EngineError, *STATUS_BY_CLASS):
        app.add_exception_handler(cls, _mapped_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_middleware(CatchAllMiddleware)
