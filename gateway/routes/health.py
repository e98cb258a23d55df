"""Liveness, readiness and metrics: for load balancers, orchestrators and Prometheus.

/health says the process answers. /health/ready runs every check in `services.readiness_checks`
at once, each bounded in time, and answers 503 if any fails, naming which and why. /metrics is
the Prometheus exposition of the app's HTTP metrics and of `services.metrics`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel, ConfigDict

from app.services import ReadinessCheck
from engine.errors import EngineError
from gateway.deps import ServicesDep
from gateway.errors import ErrorDetail, error_responses
from gateway.metrics import HttpMetrics, combined

__all__ = ["CheckPublic", "HealthPublic", "ReadinessPublic", "router"]

READINESS_TIMEOUT_S = 5.0
"""A check that has not answered by then counts as failed."""

log = logging.getLogger("ragstack.gateway")


class HealthPublic(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class CheckPublic(BaseModel):
    """One readiness check's outcome."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    """What was checked ("accounts", "nats", …)."""
    ok: bool
    detail: str
    """Why it is or is not ready, in a few words."""


class ReadinessPublic(BaseModel):
    """Whether every part the gateway needs is ready."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    status: Literal["ready", "not_ready"]
    checks: list[CheckPublic]
    error: ErrorDetail | None = None
    """Set with 503: code `not_ready` and the failed checks in the message."""


router = APIRouter(tags=["health"])


@router.get("/health", responses=error_responses(500))
async def read_health() -> HealthPublic:
    """Liveness: the process answers HTTP."""
    return HealthPublic()


async def _run_check(check: ReadinessCheck) -> CheckPublic:
    name = getattr(check, "__name__", "check")
    try:
        name, ok, detail = await asyncio.wait_for(check(), READINESS_TIMEOUT_S)
    except TimeoutError:
        return CheckPublic(name=name, ok=False, detail=f"no answer within {READINESS_TIMEOUT_S} s")
    except EngineError as exc:
        return CheckPublic(name=name, ok=False, detail=str(exc))
    except Exception as exc:
        # Unexpected: the details go to the log, not to whoever polls the endpoint.
        log.error("readiness check %s failed", name, exc_info=exc)
        return CheckPublic(name=name, ok=False, detail=f"check failed ({type(exc).__name__})")
    return CheckPublic(name=name, ok=ok, detail=detail)


@router.get(
    "/health/ready",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "Some part is not ready"}},
)
async def read_readiness(services: ServicesDep) -> JSONResponse:
    """Readiness: every part the gateway needs answers."""
    checks = await asyncio.gather(*(_run_check(c) for c in services.readiness_checks))
    failed = [c for c in checks if not c.ok]
    body = ReadinessPublic(status="not_ready" if failed else "ready", checks=list(checks))
    if failed:
        body.error = ErrorDetail(
            code="not_ready",
            message="not ready: " + "; ".join(f"{c.name} ({c.detail})" for c in failed),
        )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503 if failed else 200)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition",
        }
    },
)
async def read_metrics(request: Request, services: ServicesDep) -> Response:
    """Prometheus metrics: HTTP requests by route template and status, and the parts' own."""
    http: HttpMetrics = request.app.state.http_metrics
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(combined(http.registry, services.metrics)), media_type=content_type)
