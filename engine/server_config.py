"""The embedded nats-server's configuration file, as the engine writes it (engine/server.py).

Two kinds of account. The engine's own, `RAGSTACK`, holds every stream (JetStream is enabled for
it alone) and its privileged user. Each restricted user (a direct guest, engine/guests.py) gets
an account of its own, named after it, without JetStream, which imports from `RAGSTACK` only the
subjects granted to it: services (requests such as Direct Get on one stream) and streams (subjects
it may receive, such as a chapter's live subject).

Why accounts and not permissions alone: a request's reply subject is the requester's choice and
nats-server checks no permission on it, so a user allowed to send Direct Get to a stream could
name ANOTHER stream's subject as the reply and have the server store the answer there. Across an
account boundary the reply is mapped to a private `_R_` subject that routes back to the guest's
account only, where no stream listens; whatever reply it names stays in its own account.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_HOST",
    "ENGINE_ACCOUNT",
    "LEGACY_ACCOUNT",
    "ClusterSpec",
    "TlsFiles",
    "config_text",
    "parse_listen",
]

DEFAULT_HOST = "127.0.0.1"
"""The embedded server listens on loopback unless `[nats] listen` says otherwise."""
ENGINE_ACCOUNT = "RAGSTACK"
"""The account of the engine's user and of every stream."""
EXPORTED_SERVICES = ("$JS.API.DIRECT.GET.>",)
"""Requests a guest's account may import (narrowed to one stream per guest). Only Direct Get:
the rest of the JetStream API answers in the requester's account, which has no JetStream."""
EXPORTED_STREAMS = ("rs.live.>",)
"""Subjects a guest's account may import (narrowed to one chapter per guest)."""
LEGACY_ACCOUNT = "$G"
"""Where JetStream kept the streams before accounts were configured (moved on start)."""


@dataclass(frozen=True)
class TlsFiles:
    """The embedded server's certificate (PEM, the chain if there is one) and its private key:
    with them every client connection is TLS (direct-share guests dial it from other machines)."""

    cert: Path
    key: Path

    def check(self) -> None:
        """ValueError naming the file that cannot be read (nats-server would only say it failed)."""
        for what, path in (("certificate", self.cert), ("key", self.key)):
            if not path.is_file():
                raise ValueError(f"the NATS TLS {what} {str(path)!r} is not a readable file")

    def certificate(self) -> str:
        """The certificate's PEM text: what clients are told to trust."""
        return self.cert.read_text()


@dataclass(frozen=True)
class ClusterSpec:
    """One node's place in a JetStream cluster: its unique name, where it listens for routes
    from its peers, and the peers' route addresses (engine/server_cluster.py makes these)."""

    name: str
    """The cluster's name (every node the same)."""
    server_name: str
    """This node's name, unique in the cluster: JetStream places replicas by it."""
    host: str
    """The address routes listen on."""
    port: int
    """The route port."""
    routes: tuple[str, ...]
    """`nats-route://host:port` of every peer (its own may be among them: nats-server skips it)."""
    route_user: str
    """The user the nodes present to each other on routes."""
    route_password: str
    """Its password (a secret: kept in the data directory with mode 0600)."""


def _cluster_lines(cluster: ClusterSpec) -> list[str]:
    authorization = {"user": cluster.route_user, "password": cluster.route_password}
    routes = [
        # Each route carries the credentials its peer checks.
        route.replace("://", f"://{cluster.route_user}:{cluster.route_password}@", 1)
        for route in cluster.routes
    ]
    return [
        f"server_name: {json.dumps(cluster.server_name)}",
        "cluster {",
        f"  name: {json.dumps(cluster.name)}",
        f"  host: {json.dumps(cluster.host)}",
        f"  port: {cluster.port}",
        f"  authorization: {json.dumps(authorization)}",
        f"  routes: {json.dumps(routes)}",
        "}",
    ]


def parse_listen(listen: str | None) -> tuple[str, int | None]:
    """The client listen address from a setting: "host:port", "host", ":port" or
    "[v6 address]:port". None (the default): loopback, on a port the server picks."""
    if listen is None or not listen.strip():
        return DEFAULT_HOST, None
    text = listen.strip()
    if text.startswith("["):  # an IPv6 address
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    try:
        port = int(port_text) if port_text else None
    except ValueError:
        raise ValueError(f"invalid listen address {listen!r}: use host:port") from None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"invalid port in listen address {listen!r}")
    return host or DEFAULT_HOST, port


def config_text(
    *,
    host: str,
    port: int | None,
    max_payload: int,
    data_dir: Path,
    store_dir: Path,
    engine_user: str,
    engine_password: str,
    users: Mapping[str, Mapping[str, Any]],
    cluster: ClusterSpec | None = None,
    tls: TlsFiles | None = None,
) -> str:
    """The whole configuration file. `users`: name -> {"password", "permissions", "services",
    "streams"} (the subjects the user's account imports from the engine's); `cluster`: this
    node's place in a JetStream cluster (None: a single server); `tls`: TLS required of every
    client (None: plain, for loopback)."""
    accounts: dict[str, Any] = {}
    for name, spec in sorted(users.items()):
        imports = [
            {kind: {"account": ENGINE_ACCOUNT, "subject": subject}}
            for kind in ("service", "stream")
            for subject in spec.get(kind + "s", ())
        ]
        user = {"user": name, "password": spec["password"], "permissions": spec["permissions"]}
        accounts[name] = {"users": [user], "imports": imports}
    accounts[ENGINE_ACCOUNT] = {
        "jetstream": "enabled",
        "users": [{"user": engine_user, "password": engine_password}],
        # What guests' accounts may import, stated once and never changed: a reload that
        # changes the engine's account leaves new imports unserved until a restart. Each
        # guest's account imports only its own chapter's subjects (engine/guests.py).
        "exports": [{"service": subject} for subject in EXPORTED_SERVICES]
        + [{"stream": subject} for subject in EXPORTED_STREAMS],
    }
    # nats-server's config syntax accepts JSON values, so the accounts are JSON: no
    # hand-escaping of names, passwords or `$JS.API…` subjects.
    return "\n".join(
        [
            "# Written by ragstack (engine/server_config.py); edits are overwritten.",
            f"host: {json.dumps(host)}",
            f"port: {port if port is not None else -1}",  # -1: the server picks a free port
            f"max_payload: {max_payload}",
            f"ports_file_dir: {json.dumps(str(data_dir))}",
            f"pid_file: {json.dumps(str(data_dir / 'nats-server.pid'))}",
            "jetstream {",
            f"  store_dir: {json.dumps(str(store_dir))}",
            # fsync before every ack: Jepsen (NATS 2.12) lost acknowledged writes to the
            # default lazy fsync when nodes crashed together. On a cluster too.
            "  sync_interval: always",
            "}",
            *(_cluster_lines(cluster) if cluster is not None else []),
            *(_tls_lines(tls) if tls is not None else []),
            f"accounts: {json.dumps(accounts, indent=2)}",
            "",
        ]
    )


def _tls_lines(tls: TlsFiles) -> list[str]:
    # No `allow_non_tls`: a guest's password never crosses the wire in the clear, and the
    # engine's own connection speaks TLS too (engine/nats.py, `server_tls`).
    return [
        "tls {",
        f"  cert_file: {json.dumps(str(tls.cert))}",
        f"  key_file: {json.dumps(str(tls.key))}",
        "  timeout: 5",
        "}",
    ]
