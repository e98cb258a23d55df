"""HTTP metrics for Prometheus, labelled by route template (never the raw path), and an access log.

Raw paths would make one time series per chapter id and would put share tokens into metric
labels and logs; the route template (`/v1/chapters/{ch}`) does neither. Requests that match no
route share the label `<unmatched>`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any
from weakref import WeakKeyDictionary

from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["UNMATCHED", "HttpMetrics", "MetricsMiddleware", "combined", "route_label"]

UNMATCHED = "<unmatched>"
"""The route label of requests that match no route."""

access_log = logging.getLogger("ragstack.gateway.access")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds; spans a cached read (ms) to a long answer or upload (tens of s).
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class HttpMetrics:
    """The gateway's HTTP metrics, in a registry of the app's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ragstack_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ragstack_http_request_duration_seconds",
            "Time from request to the end of the response, by method, route template and status.",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "ragstack_http_requests_in_progress",
            "HTTP requests being answered.",
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)


class _Combined:
    def __init__(self, registries: Iterable[Collector]) -> None:
        self._registries = tuple(registries)

    def collect(self) -> Iterator[Metric]:
        for registry in self._registries:
            yield from registry.collect()


def combined(*registries: Collector) -> Collector:
    """One collector over several registries (the app's HTTP metrics and the services')."""
    return _Combined(registries)  # type: ignore[return-value]


# Per app: id of a matched route -> its full template. Included routers keep their routes'
# paths relative to the router (FastAPI adds the prefixes at inclusion), so the full template
# comes from fastapi.routing.iter_route_contexts, looked up by the route in scope["route"].
_templates: WeakKeyDictionary[Any, dict[int, str]] = WeakKeyDictionary()


def route_label(scope: Scope) -> str:
    """The full template of the matched route (`/v1/auth/tokens/{token_id}`), or UNMATCHED."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    app = scope.get("app")
    if app is None or not hasattr(app, "routes"):
        return getattr(route, "path", None) or UNMATCHED
    templates = _templates.setdefault(app, {})
    template = templates.get(id(route))
    if template is None:
        # First request to this route (or routes were added): rebuild the map, and remember a
        # route it does not know (inside a mounted app) under its own path.
        templates.clear()
        for context in iter_route_contexts(app.routes):
            templates.setdefault(id(context.original_route), context.path_format or context.path)
        template = templates.setdefault(id(route), getattr(route, "path", None) or UNMATCHED)
    return template


class MetricsMiddleware:
    """Counts and times every HTTP request once its response has been sent."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees if the app fails before answering
        start = time.perf_counter()

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_recording)
        finally:
            self.metrics.in_progress.dec()
            elapsed = time.perf_counter() - start
            method = scope.get("method", "GET")
            method = method if method in _METHODS else "OTHER"
            route = route_label(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route, str(status)).observe(elapsed)
            access_log.info("%s %s %d %.1f ms", method, route, status, elapsed * 1000)
