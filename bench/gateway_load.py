"""The search load of bench_gateway.py, run as a child process so that the clients' work has its
own event loop and is not billed to the server's.

    python bench/gateway_load.py < job.json

The job (JSON on stdin): `url`, `token`, `chapter`, `queries`, `k`, `clients`, `warmup` and
`seconds`. Each client keeps one HTTP/1.1 connection and sends its next POST
/v1/chapters/{chapter}/search as soon as its last one is answered (a closed loop), cycling through
the queries. Only requests sent after the warm-up count; the last stdout line is
`{requests, errors, first_error, rps, p50_ms, p99_ms}` (plus the child's peak RSS, see
bench/common.py `child_result`).

The clients speak HTTP over asyncio streams rather than through httpx: on two cores the load
generator shares the machine with the server, and httpx spent about as much CPU per request as
the server did, so the figures measured the client as much as the server.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from bench.common import child_result


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (0 and 0 with no samples)."""
    if len(seconds) < 2:
        only = seconds[0] * 1000 if seconds else 0.0
        return only, only
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads whole answers."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """(status, body). A failure is the caller's to count: the request is never resent."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"POST {path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
        data = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


async def run(job: dict[str, Any]) -> dict[str, Any]:
    clients = int(job["clients"])
    url = urlsplit(job["url"])
    path = f"/v1/chapters/{job['chapter']}/search"
    bodies = [json.dumps({"query": q, "k": job["k"]}).encode() for q in job["queries"]]
    latencies: list[float] = []
    errors: list[str] = []
    measure_from = time.perf_counter() + float(job["warmup"])
    stop = measure_from + float(job["seconds"])

    async def one_client(n: int) -> None:
        connection = Connection(url.hostname or "127.0.0.1", url.port or 80, job["token"])
        i = n
        try:
            while (t0 := time.perf_counter()) < stop:
                body = bodies[i % len(bodies)]
                i += clients
                try:
                    status, answer = await connection.post(path, body)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                    # Counted (warm-up included) and reported, never retried or hidden.
                    at = time.perf_counter() - measure_from
                    errors.append(f"{type(exc).__name__} {str(exc)!r} at {at:+.1f} s")
                    await connection.close()
                    continue
                if t0 < measure_from:
                    continue
                if status == 200 and json.loads(answer)["hits"]:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors.append(f"HTTP {status}: {answer[:200].decode(errors='replace')}")
        finally:
            await connection.close()

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
