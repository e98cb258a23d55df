"""`ragstack cluster up`: three nats-server nodes that form one JetStream cluster, announced as
URLs for `RAGSTACK_NATS_URL`, stopped cleanly (exit 0, no node left) on Ctrl-C; started again on
the same directory, the same nodes at the same addresses, with the streams they held."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

from engine.log import Log
from engine.nats import open_nats
from events import ChapterRenamed, new_id
from tests.serve_support import RAGSTACK, nats_servers_on


def _up(data: Path) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(
        [RAGSTACK, "cluster", "up", "--nodes", "3", "--data", str(data), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the ready line, once JetStream can place R3 streams
    assert line, proc.stderr.read() if proc.stderr else "no output"
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str], data: Path) -> None:
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(60) == 0
    assert nats_servers_on(data) == []


def test_cluster_up_runs_three_nodes_that_keep_r3_logs_across_a_restart(tmp_path: Path):
    data = tmp_path / "cluster"
    proc, ready = _up(data)
    try:
        assert ready["ready"] is True and len(ready["urls"]) == 3
        assert ready["nats_url"] == ",".join(ready["urls"])
        assert "password" not in ready and Path(ready["password_file"]).stat().st_mode & 0o077 == 0
        password = Path(ready["password_file"]).read_text().strip()
        assert len(nats_servers_on(data)) == 3
        for node in ("n1", "n2", "n3"):
            assert "sync_interval: always" in (data / node / "nats-server.conf").read_text()
        chapter = new_id()

        async def write() -> int:
            nc = await open_nats(ready["nats_url"], ready["user"], password)
            log = Log(nc, chapter, replicas=3)
            await log.create()
            await log.append(ChapterRenamed(title="on three nodes"), actor="u")
            info = await log.js.stream_info(log.stream)
            await log.close()
            await nc.close()
            return info.config.num_replicas

        assert asyncio.run(write()) == 3
    finally:
        _stop(proc, data)

    proc, again = _up(data)
    try:
        assert again["urls"] == ready["urls"]

        async def read() -> list[int]:
            nc = await open_nats(again["nats_url"], again["user"], password)
            log = Log(nc, chapter)
            revs = [e.rev async for e in log.read()]
            await log.close()
            await nc.close()
            return revs

        assert asyncio.run(read()) == [1]
    finally:
        _stop(proc, data)


def test_cluster_up_refuses_a_directory_of_another_size(tmp_path: Path):
    data = tmp_path / "cluster"
    proc, _ = _up(data)
    _stop(proc, data)
    done = subprocess.run(
        [RAGSTACK, "cluster", "up", "--nodes", "5", "--data", str(data), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "holds a cluster of 3 nodes, not 5" in done.stdout + done.stderr
