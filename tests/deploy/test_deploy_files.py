"""The files docs/deploy.md shows are checked by the tools that will read them: nats-server's
own `-t` for the node configurations, `systemd-analyze verify` for the units, Debian's caddy for
the Caddyfile, docker-compose for the compose file. Each check first proves it can fail: a file
broken on purpose must be refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.server import nats_server_binary
from tests.requirements import require_tool

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
SECRETS = {"RAGSTACK_NATS_PASSWORD": "not-a-real-secret", "NATS_SYSTEM_PASSWORD": "nor-this"}


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _certificates(directory: Path) -> None:
    """A CA and rs1's certificate signed by it, where the configuration expects them."""
    openssl = require_tool("openssl", package="openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    steps = [
        [openssl, "req", "-x509", *ec, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1",
         "-subj", "/CN=test ca"],
        [openssl, "req", *ec, "-keyout", "rs1-key.pem", "-out", "rs1.csr",
         "-subj", "/CN=rs1.example.org"],
        [openssl, "x509", "-req", "-in", "rs1.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
         "-CAcreateserial", "-out", "rs1.pem", "-days", "1"],
    ]  # fmt: skip
    for step in steps:
        subprocess.run(step, cwd=directory, check=True, capture_output=True, timeout=60)


def _nats_check(conf: Path) -> subprocess.CompletedProcess[str]:
    return _run(nats_server_binary(), "-t", "-c", conf, env=SECRETS)


def test_the_cluster_node_configuration_is_valid_for_nats_server(tmp_path: Path):
    _certificates(tmp_path)
    text = (DEPLOY / "nats-server.conf").read_text().replace("/etc/nats/certs", str(tmp_path))
    assert "sync_interval: always" in text
    conf = tmp_path / "nats-server.conf"
    conf.write_text(text)
    checked = _nats_check(conf)
    assert checked.returncode == 0, checked.stderr + checked.stdout

    broken = tmp_path / "broken.conf"
    broken.write_text(text.replace("sync_interval: always", "sync_interval: sometimes"))
    assert _nats_check(broken).returncode != 0


def test_the_compose_nodes_configuration_is_valid_for_nats_server(tmp_path: Path):
    checked = _nats_check(DEPLOY / "nats-compose.conf")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    broken = tmp_path / "broken.conf"
    broken.write_text((DEPLOY / "nats-compose.conf").read_text().replace("cluster {", "cluster {{"))
    assert _nats_check(broken).returncode != 0


def test_the_systemd_units_verify(tmp_path: Path):
    analyze = require_tool("systemd-analyze", package="systemd")
    # The units name where the binaries live on the hosts; here, where they live in this venv.
    binaries = {
        "/usr/local/bin/nats-server": str(nats_server_binary()),
        "/opt/ragstack/.venv/bin/ragstack": str(Path(sys.executable).parent / "ragstack"),
    }
    units = []
    for name in ("nats-server.service", "ragstack.service"):
        text = (DEPLOY / name).read_text()
        for host_path, here in binaries.items():
            text = text.replace(host_path, here)
        (tmp_path / name).write_text(text)
        units.append(tmp_path / name)
    checked = _run(analyze, "verify", *units)
    assert checked.returncode == 0, checked.stderr + checked.stdout

    broken = tmp_path / "broken.service"
    broken.write_text(units[0].read_text().replace("ExecStart=/", "ExecStart=relative/"))
    assert _run(analyze, "verify", broken).returncode != 0


def test_the_caddyfile_validates(tmp_path: Path):
    caddy = require_tool("caddy", package="caddy")
    text = (DEPLOY / "Caddyfile").read_text()
    # Validation opens the log file: keep it in the test's directory.
    site = tmp_path / "Caddyfile"
    site.write_text(text.replace("/var/log/caddy/ragstack.log", str(tmp_path / "caddy.log")))
    checked = _run(caddy, "validate", "--config", site, "--adapter", "caddyfile")
    assert checked.returncode == 0, checked.stderr + checked.stdout

    broken = tmp_path / "Broken"
    broken.write_text(site.read_text().replace("flush_interval -1", "flush_interval soon"))
    assert _run(caddy, "validate", "--config", broken, "--adapter", "caddyfile").returncode != 0


@pytest.mark.parametrize("password", ["set", "missing"])
def test_the_compose_file_is_valid_and_demands_the_password(tmp_path: Path, password: str):
    compose = require_tool("docker-compose", package="docker-compose")
    env = {"RAGSTACK_NATS_PASSWORD": "not-a-real-secret"} if password == "set" else {}
    clean = {k: v for k, v in os.environ.items() if k != "RAGSTACK_NATS_PASSWORD"}
    checked = subprocess.run(
        [compose, "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
    )
    if password == "set":
        assert checked.returncode == 0, checked.stderr
    else:
        assert checked.returncode != 0 and "RAGSTACK_NATS_PASSWORD" in checked.stderr
