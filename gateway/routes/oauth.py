"""Connecting a chapter by signing in to Google Drive, Dropbox or OneDrive (app/oauth.py).

GET  /v1/connectors/oauth/providers                              which the operator has set up
POST /v1/chapters/{chapter}/connectors/oauth/{provider}/start    browser flow: {authorize_url}
POST /v1/chapters/{chapter}/connectors/oauth/{provider}/device   device flow: user code and link
POST /v1/chapters/{chapter}/connectors/oauth/flows/{flow}/poll   where a flow is (a device flow
     polls the provider once per call)
GET  /v1/connectors/oauth/callback?code&state                    the provider's redirect back:
     makes the connector and sends the browser to the web app's chapter page, with
     `?connector=<id>` or `?connector_error=<code>`.

The callback carries no RagStack credential (the provider's redirect cannot): the flow its
`state` names, kept server side, says who started it for which chapter.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote, urlencode

import msgspec
from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import RedirectResponse

from app import oauth as app_oauth
from gateway.deps import CurrentUser, ServicesDep, WritableChapter
from gateway.errors import error_responses
from gateway.schemas_connectors import (
    OAuthDeviceStarted,
    OAuthFlowStatus,
    OAuthProviderPublic,
    OAuthProviders,
    OAuthStart,
    OAuthStarted,
)

__all__ = ["router"]

CALLBACK = "oauth_callback"
_Provider = Annotated[Literal["google", "dropbox", "microsoft"], Path(description="The provider.")]
_Flow = Annotated[str, Path(max_length=64, description="A sign-in flow's id.")]

router = APIRouter(tags=["connectors"], responses=error_responses(401, 403, 404))


def _redirect_uri(request: Request, services: ServicesDep) -> str:
    configured = services.settings.connectors.oauth.redirect_uri
    return configured or str(request.url_for(CALLBACK))


@router.get("/connectors/oauth/providers")
async def read_oauth_providers(services: ServicesDep, user: CurrentUser) -> OAuthProviders:
    """The services a chapter can be connected to by signing in, and whether each is set up."""
    views = app_oauth.providers(services)
    return OAuthProviders(
        providers=[OAuthProviderPublic.model_validate(msgspec.to_builtins(v)) for v in views]
    )


@router.post(
    "/chapters/{chapter}/connectors/oauth/{provider}/start",
    status_code=status.HTTP_201_CREATED, responses=error_responses(409),
)  # fmt: skip
async def start_oauth(
    request: Request, services: ServicesDep, user: CurrentUser, chapter: WritableChapter,
    provider: _Provider, body: OAuthStart | None = None,
) -> OAuthStarted:  # fmt: skip
    """Begin connecting the chapter to a folder (or reconnecting a connector whose sign-in was
    refused: `connector`): send the browser to `authorize_url`; the provider sends it back to
    the callback, which makes (or reconnects) the connector. 409
    `oauth_not_configured` when the operator has not registered a client with the provider."""
    started = await app_oauth.start(
        services, chapter.id, actor=user.id, provider=provider,
        library=body.library if body else None, redirect_uri=_redirect_uri(request, services),
        reconnect=body.connector if body else None,
    )  # fmt: skip
    return OAuthStarted.model_validate(msgspec.to_builtins(started))


@router.post(
    "/chapters/{chapter}/connectors/oauth/{provider}/device",
    status_code=status.HTTP_201_CREATED, responses=error_responses(409, 502, 503),
)  # fmt: skip
async def start_oauth_device(
    services: ServicesDep, user: CurrentUser, chapter: WritableChapter, provider: _Provider,
    body: OAuthStart | None = None,
) -> OAuthDeviceStarted:  # fmt: skip
    """Begin connecting the chapter with a user code (RFC 8628, for the CLI): show the code and
    the link, then poll the flow. 422 when the provider offers no device sign-in."""
    started = await app_oauth.device_start(
        services, chapter.id, actor=user.id, provider=provider,
        library=body.library if body else None, reconnect=body.connector if body else None,
    )  # fmt: skip
    return OAuthDeviceStarted.model_validate(msgspec.to_builtins(started))


@router.post(
    "/chapters/{chapter}/connectors/oauth/flows/{flow}/poll",
    responses=error_responses(409, 502, 503),
)
async def poll_oauth_flow(
    services: ServicesDep, user: CurrentUser, chapter: WritableChapter, flow: _Flow
) -> OAuthFlowStatus:
    """Where the caller's sign-in is; a device flow's provider is polled once per call (wait
    `interval` seconds between calls)."""
    found = await app_oauth.poll(services, chapter.id, flow, actor=user.id)
    return OAuthFlowStatus.model_validate(msgspec.to_builtins(found))


@router.get(
    "/connectors/oauth/callback", name=CALLBACK, status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    responses={303: {"description": "To the web app's chapter page, with the outcome."}},
)  # fmt: skip
async def oauth_callback(
    services: ServicesDep,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> RedirectResponse:
    """The provider's redirect back after the person consented (or refused): the connector is
    made and the browser sent to `/chapters/{chapter}?connector=<id>`, or
    `?connector_error=<code>` (`oauth_state_invalid`, `oauth_state_used`, `oauth_state_expired`,
    `oauth_denied`, `oauth_failed`, …)."""
    result = await app_oauth.callback(services, code=code, state=state, error=error)
    web = services.settings.connectors.oauth.web_url.rstrip("/")
    page = f"/chapters/{quote(result.chapter, safe='')}" if result.chapter else "/books"
    marker = ({"connector": result.connector} if result.connector
              else {"connector_error": result.error_code or "oauth_failed"})  # fmt: skip
    return RedirectResponse(f"{web}{page}?{urlencode(marker)}", status_code=303)
