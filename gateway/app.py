"""The gateway's app factory: thin HTTP over the services.

    services = await open_services(settings)
    app = create_app(services)
    ...  # serve it (uvicorn.Server(uvicorn.Config(app, access_log=False, ...)).serve())
    await services.close()

The app neither opens nor closes the services: whoever runs it owns them, so that tests and
`ragstack serve` decide their life. Run it on the event loop the services were opened on.

Middleware, outermost first: metrics (every answer is counted, 429s and 500s included), rate
limits, the catch-all that turns an unexpected exception into a JSON 500, then FastAPI's
exception handlers (gateway/errors.py) and the routes (gateway/routes/).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from app.services import Services
from gateway.errors import install_error_handlers
from gateway.idempotency import IdempotencyMiddleware
from gateway.metrics import HttpMetrics, MetricsMiddleware
from gateway.ratelimit import RateLimitMiddleware, RateLimits
from gateway.routes import include_routers
from gateway.routes.info import server_version
from gateway.routes.webapp import WEBAPP_DIR
from gateway.session_cookies import SessionKeys
from gateway.webapp_files import WebAppBuild

__all__ = ["create_app"]

DESCRIPTION = (
    "RagStack: books of chapters of sources, searched and chatted with; every chapter an "
    "append-only, hash-chained event log. Authenticate with `Authorization: Bearer <token>`, "
    "or in a browser with the session cookie of `POST /v1/auth/session` (its writes send "
    "`X-CSRF-Token`). "
    'Errors are JSON `{"error": {"code", "message"}}`.'
)


def create_app(services: Services, *, webapp_dir: Path | None = None) -> FastAPI:
    """A FastAPI app serving the HTTP API over `services`, and the web app's build in
    `webapp_dir` (default: the package's `gateway/webapp/`; the welcome page while it is empty)."""
    app = FastAPI(title="RagStack", version=server_version(), description=DESCRIPTION)
    app.state.services = services
    app.state.session_keys = SessionKeys.load(services.settings.data)
    app.state.webapp = WebAppBuild(WEBAPP_DIR if webapp_dir is None else webapp_dir)
    app.state.rate_limits = RateLimits(services.settings.limits)
    app.state.http_metrics = HttpMetrics()

    # add_middleware wraps what is there already: the last added runs first.
    install_error_handlers(app)  # adds the catch-all, innermost
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RateLimitMiddleware, limits=app.state.rate_limits)
    app.add_middleware(MetricsMiddleware, metrics=app.state.http_metrics)

    include_routers(app)
    return app
