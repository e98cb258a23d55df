"""A real `ragstack serve` in a subprocess, and the `ragstack` CLI run against it.

The server gets a free port, its own data directory and extractive answers (no LLM); the CLI
gets its own XDG_CONFIG_HOME, so `ragstack login` never touches the real user's credentials.
`stop()` sends SIGTERM, as an init system would, and checks that the server exits cleanly and
leaves no nats-server behind; `serving` starts one for a `with` block and stops it after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from engine.server import free_port

RAGSTACK = str(Path(sys.executable).parent / "ragstack")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


def cli_env(config_home: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI run: its own config home, no credentials from the caller."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAGSTACK_URL", "RAGSTACK_TOKEN")}
    env["XDG_CONFIG_HOME"] = str(config_home)
    env["COLUMNS"] = "200"  # rich tables keep ids whole
    env.update(extra)
    return env


@dataclass
class ServeProcess:
    """A running `ragstack serve` and the CLI pointed at it."""

    proc: subprocess.Popen[str]
    url: str
    data: Path
    config_home: Path
    log: Path
    ready: dict[str, Any] = field(default_factory=dict)

    def cli(
        self, *args: str, input: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `ragstack ARGS…` with this server's config home; never raises on exit status."""
        return subprocess.run(
            [RAGSTACK, *args],
            input=input,
            capture_output=True,
            text=True,
            env=cli_env(self.config_home, **env),
            timeout=300,
        )

    def invoke(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Like `cli`, but in this process (typer's CliRunner): the same commands without a
        Python start-up per call, for tests that run many."""
        from typer.testing import CliRunner

        from client.cli import app

        environment: dict[str, str | None] = {
            "XDG_CONFIG_HOME": str(self.config_home),
            "COLUMNS": "200",
            "RAGSTACK_URL": None,
            "RAGSTACK_TOKEN": None,
            **env,
        }
        result = CliRunner().invoke(app, list(args), env=environment)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(
            list(args), result.exit_code, stdout=result.stdout, stderr=result.stderr
        )

    def invoke_json(self, *args: str, **env: str) -> Any:
        """`invoke(*args, "--json")`, which must succeed; its decoded output."""
        done = self.invoke(*args, "--json", **env)
        assert done.returncode == 0, f"ragstack {' '.join(args)} failed:\n{done.stderr}"
        return json.loads(done.stdout)

    def cli_json(self, *args: str, **env: str) -> Any:
        """`cli(*args, "--json")`, which must succeed; its decoded output."""
        done = self.cli(*args, "--json", **env)
        assert done.returncode == 0, f"ragstack {' '.join(args)} failed:\n{done.stderr}"
        return json.loads(done.stdout)

    def stop(self) -> None:
        """SIGTERM; the server must exit 0 and leave no nats-server running on its data."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"serve did not stop on SIGTERM; log:\n{self.log_text()}"
                ) from None
        leftovers = nats_servers_on(self.data)
        for proc in leftovers:
            proc.kill()
        assert not leftovers, f"nats-server left running after serve stopped: {leftovers}"
        assert self.proc.returncode == 0, (
            f"serve exited with {self.proc.returncode}; log:\n{self.log_text()}"
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def nats_servers_on(data: Path) -> list[psutil.Process]:
    """nats-server processes whose configuration lives under `data`."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        try:
            if (
                proc.info["name"] == "nats-server"
                and proc.info["status"] != psutil.STATUS_ZOMBIE
                and any(str(data) in part for part in proc.info["cmdline"] or [])
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def start_serve(tmp: Path, *args: str, **env: str) -> ServeProcess:
    """Start `ragstack serve --json` on a free port and wait until it is ready."""
    data, config_home, log = tmp / "data", tmp / "config", tmp / "serve.log"
    port = free_port()
    environment = cli_env(config_home, **{"RAGSTACK_LLM_KIND": "extractive", **env})
    with open(log, "w") as log_file:
        proc = subprocess.Popen(
            [RAGSTACK, "serve", "--data", str(data), "--port", str(port), "--json", *args],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env=environment,
        )
    served = ServeProcess(
        proc=proc, url=f"http://127.0.0.1:{port}", data=data, config_home=config_home, log=log
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}:\n{served.log_text()}")
        try:
            if httpx.get(f"{served.url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    else:
        served.proc.kill()
        served.proc.wait()
        raise AssertionError(f"serve did not answer /health in time:\n{served.log_text()}")
    assert proc.stdout is not None
    served.ready = json.loads(proc.stdout.readline())
    return served


@contextmanager
def serving(tmp: Path, *args: str, **env: str) -> Iterator[ServeProcess]:
    """`start_serve(tmp, *args, **env)` for the block; stopped after it with `ServeProcess.stop`."""
    process = start_serve(tmp, *args, **env)
    try:
        yield process
    finally:
        process.stop()


@contextmanager
def spawned(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`ragstack ARGS…` with its output in pipes, for a test that signals it itself; killed if
    the block leaves it running."""
    proc = subprocess.Popen(
        [RAGSTACK, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
