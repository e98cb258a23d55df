"""`ragstack serve` as a process: it comes up, says where, and stops cleanly on a signal, leaving
no nats-server behind; roles and an external NATS; a busy port is a clear error."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import httpx

from tests.serve_support import RAGSTACK, cli_env, nats_servers_on, serving, spawned


def test_serve_announces_itself_and_stops_on_sigterm(tmp_path):
    # Leaving the block sends SIGTERM and asserts exit 0 and no nats-server left.
    with serving(tmp_path) as served:
        assert served.ready["ready"] is True
        assert served.ready["url"] == served.url
        assert served.ready["role"] == "all"
        assert served.ready["data"] == str(served.data)
        assert served.ready["nats"].startswith("nats://127.0.0.1:")
        assert nats_servers_on(served.data), "the embedded nats-server runs in the data directory"
        ready = httpx.get(f"{served.url}/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text


def test_worker_role_runs_projections_without_http_and_stops_on_ctrl_c(tmp_path, nats_server):
    # The worker shares an external NATS (RAGSTACK_NATS_URL): no embedded server of its own.
    env = cli_env(
        tmp_path / "config",
        RAGSTACK_NATS_URL=nats_server.url,
        RAGSTACK_NATS_USER=nats_server.user,
        RAGSTACK_NATS_PASSWORD=nats_server.password,
    )
    data = tmp_path / "data"
    with spawned("serve", "--role", "worker", "--data", str(data), "--json", env=env) as proc:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["url"] is None and ready["role"] == "worker"
        assert ready["nats"] == nats_server.url
        assert not (data / "nats").exists(), "no embedded server was started"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    assert nats_server.running, "the external server is not the worker's to stop"


def test_a_busy_port_is_a_clear_error_before_anything_starts(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = subprocess.run(
            [RAGSTACK, "serve", "--data", str(tmp_path / "data"), "--port", str(port)],
            capture_output=True,
            text=True,
            env=cli_env(tmp_path / "config"),
            timeout=120,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "nats").exists(), "NATS was not started for nothing"


def test_an_invalid_role_is_refused(tmp_path):
    done = subprocess.run(
        [RAGSTACK, "serve", "--role", "everything", "--json"],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path / "config"),
        timeout=60,
    )
    assert done.returncode == 1
    assert json.loads(done.stderr)["error"]["message"].startswith("--role must be")


def test_sigterm_while_starting_leaves_nothing_behind(tmp_path):
    data = tmp_path / "data"
    env = cli_env(tmp_path / "config", RAGSTACK_LLM_KIND="extractive")
    with spawned("serve", "--data", str(data), "--port", "0", "--json", env=env) as proc:
        # Wait until the embedded nats-server is being started, then stop everything at once.
        deadline = time.monotonic() + 60
        while not (data / "nats" / "nats-server.conf").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    assert not nats_servers_on(data)
