"""The search load of bench_gateway.py, run as a child process so that the clients' work has its
own event loop and is not billed to the server's.

    python bench/gateway_load.py < job.json

The job (JSON on stdin): `url`, `token`, `chapter`, `queries`, `k`, `clients`, `warmup` and
`seconds`. Each client sends its next POST /v1/chapters/{chapter}/search as soon as its last one
is answered (a closed loop), cycling through the queries. Only requests sent after the warm-up
count; the last stdout line is `{requests, errors, first_error, rps, p50_ms, p99_ms}` (plus the
child's peak RSS, see bench/common.py `child_result`). Kept apart from bench_gateway.py so the
child imports httpx and nothing of the server.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

import httpx

from bench.common import child_result


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (0 and 0 with no samples)."""
    if len(seconds) < 2:
        only = seconds[0] * 1000 if seconds else 0.0
        return only, only
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def run(job: dict[str, Any]) -> dict[str, Any]:
    clients = int(job["clients"])
    # A pooled connection can sit idle while the others serve every client; uvicorn closes one
    # after 5 s idle, and httpx (also 5 s by default) could send on it at that very moment and
    # get a ReadError. Dropping idle connections sooner on our side keeps that race out of the
    # figures (a new connection costs a TCP handshake on loopback).
    limits = httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0
    )
    headers = {"Authorization": f"Bearer {job['token']}"}
    path = f"/v1/chapters/{job['chapter']}/search"
    queries: list[str] = job["queries"]
    latencies: list[float] = []
    errors: list[str] = []
    async with httpx.AsyncClient(
        base_url=job["url"], headers=headers, limits=limits, timeout=60
    ) as client:
        measure_from = time.perf_counter() + float(job["warmup"])
        stop = measure_from + float(job["seconds"])

        async def one_client(n: int) -> None:
            i = n
            while (t0 := time.perf_counter()) < stop:
                body = {"query": queries[i % len(queries)], "k": job["k"]}
                i += clients
                try:
                    response = await client.post(path, json=body)
                except httpx.TransportError as exc:
                    # Counted (warm-up included) and reported, never retried or hidden.
                    at = time.perf_counter() - measure_from
                    errors.append(f"{type(exc).__name__} {str(exc)!r} at {at:+.1f} s")
                    continue
                if t0 < measure_from:
                    continue
                if response.status_code == 200 and response.json()["hits"]:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors.append(f"HTTP {response.status_code}: {response.text[:200]}")

        await asyncio.gather(*(one_client(n) for n in range(clients)))
        # Requests sent before `stop` may end after it: the window runs until the last one ends.
        window = max(time.perf_counter(), stop) - measure_from
    p50, p99 = percentiles_ms(latencies)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "rps": round(len(latencies) / window, 1),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
    }


def main() -> None:
    child_result(asyncio.run(run(json.loads(sys.stdin.read()))))


if __name__ == "__main__":
    main()
