"""Liveness, readiness (with the services' checks), Prometheus metrics and /v1/info."""

from __future__ import annotations

import asyncio

from gateway_support import bearer, sign_up
from prometheus_client import Gauge
from prometheus_client.parser import text_string_to_metric_families

import gateway.routes.health as health_routes


def _samples(text: str, name: str) -> list:
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_health_answers_ok(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_every_part_answers(client):
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["accounts"] == {"name": "accounts", "ok": True, "detail": "reachable"}
    assert checks["nats"]["ok"] is True
    assert checks["projections"]["ok"] is True


async def test_not_ready_when_the_accounts_store_is_gone(client, services):
    await services.accounts.close()  # the database connection is really closed
    response = await client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"][0]["name"] == "accounts" and body["checks"][0]["ok"] is False
    assert body["error"]["code"] == "not_ready"
    assert "accounts" in body["error"]["message"]


async def test_added_checks_run_and_a_failing_or_hanging_one_makes_it_503(
    client, services, monkeypatch
):
    async def nats_ok() -> tuple[str, bool, str]:
        return "nats", True, "connected"

    async def lagging() -> tuple[str, bool, str]:
        return "projections", False, "vectors is 120 events behind"

    async def hanging() -> tuple[str, bool, str]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    services.readiness_checks.append(nats_ok)
    assert (await client.get("/health/ready")).status_code == 200

    monkeypatch.setattr(health_routes, "READINESS_TIMEOUT_S", 0.2)
    services.readiness_checks.extend([lagging, hanging])
    response = await client.get("/health/ready")
    assert response.status_code == 503
    checks = {c["name"]: c for c in response.json()["checks"]}
    assert checks["nats"]["ok"] is True
    assert checks["projections"] == {
        "name": "projections",
        "ok": False,
        "detail": "vectors is 120 events behind",
    }
    hung = next(c for c in checks.values() if "no answer" in c["detail"])
    assert hung["ok"] is False


async def test_metrics_count_requests_by_route_template_and_status(client, services):
    token = await sign_up(client)
    await client.get("/v1/me", headers=bearer(token))
    await client.get("/v1/me")  # 401
    for token_id in ["01aaa", "01bbb"]:  # two raw paths, one template
        await client.delete(f"/v1/auth/tokens/{token_id}", headers=bearer(token))
    await client.get("/no/such/route/123")

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in _samples(response.text, "ragstack_http_requests_total")
    }
    assert counts[("POST", "/v1/auth/signup", "201")] == 1
    assert counts[("GET", "/v1/me", "200")] == 1
    assert counts[("GET", "/v1/me", "401")] == 1
    assert counts[("DELETE", "/v1/auth/tokens/{token_id}", "404")] == 2
    assert counts[("GET", "<unmatched>", "404")] == 1
    assert not any("01aaa" in route or "/no/such" in route for _, route, _ in counts)
    latency = _samples(response.text, "ragstack_http_request_duration_seconds_count")
    assert any(s.labels["route"] == "/v1/me" and s.value == 1 for s in latency)


async def test_metrics_include_what_the_services_register(client, services):
    gauge = Gauge("ragstack_projection_lag_events", "Lag.", registry=services.metrics)
    gauge.set(7)
    response = await client.get("/metrics")
    assert _samples(response.text, "ragstack_projection_lag_events")[0].value == 7


async def test_metrics_speak_openmetrics_when_asked(client):
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


async def test_info_names_the_version_features_and_limits(client, settings):
    response = await client.get("/v1/info")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "ragstack"
    assert body["version"]
    assert "auth" in body["features"]
    assert body["limits"]["upload_bytes"] == settings.limits.upload_bytes
