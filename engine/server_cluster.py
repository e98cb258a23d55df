"""A JetStream cluster on one machine: N nats-server nodes on loopback ports (`ragstack cluster up`,
the cluster fault tests, bench/bench_cluster.py).

Each node is an `EmbeddedServer` (engine/server.py) with a `cluster` block, in `<dir>/n<i>`, with
`sync_interval: always` like the single server: Jepsen's NATS 2.12 analysis lost acknowledged
writes to the default lazy fsync when nodes crashed together. The layout (node names and ports)
is chosen on the first start and kept in `<dir>/cluster.json`, so a restarted node comes back
under the same name and address (JetStream places replicas by server name, and clients reconnect
to the URLs they were given). Every node shares one engine password (`<dir>/engine.password`) and
one route secret (`<dir>/route.password`), both mode 0600; nothing prints them.

A real deployment runs one node per host with TLS on clients and routes: docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import time
from pathlib import Path

import nats.errors
from nats.js.api import StorageType, StreamConfig

from engine.errors import LogUnavailable
from engine.nats import NATS, open_nats
from engine.server import ENGINE_USER, EmbeddedServer, ServerError, _write_private, free_port
from engine.server_config import DEFAULT_HOST, ClusterSpec

__all__ = ["CLUSTER_NAME", "MAX_NODES", "LocalCluster"]

CLUSTER_NAME = "ragstack"
"""The cluster's name (`cluster.name` on every node)."""
MAX_NODES = 9
"""More nodes than this on one machine measure nothing a real deployment would see."""
ROUTE_USER = "ragstack-route"
"""The user nodes present to each other on routes."""

_LAYOUT_NAME = "cluster.json"
_PROBE_STREAM = "RS_PROBE"
_PROBE_SUBJECT = "rs.probe"
_ENGINE_SECRET = "engine.password"
_ROUTE_SECRET = "route.password"


def _secret(path: Path) -> str:
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


class LocalCluster:
    """`nodes` nats-server processes forming one JetStream cluster, in `data_dir`."""

    def __init__(self, data_dir: Path, nodes: int = 3, *, host: str = DEFAULT_HOST) -> None:
        if not 1 <= nodes <= MAX_NODES:
            raise ValueError(f"a local cluster has 1 to {MAX_NODES} nodes, not {nodes}")
        self.data_dir = Path(data_dir)
        self.host = host
        self.data_dir.mkdir(parents=True, exist_ok=True)
        layout = self._layout(nodes)
        password = _secret(self.data_dir / _ENGINE_SECRET)
        route_password = _secret(self.data_dir / _ROUTE_SECRET)
        routes = tuple(f"nats-route://{host}:{node['route']}" for node in layout)
        self.nodes: list[EmbeddedServer] = []
        for node in layout:
            node_dir = self.data_dir / node["name"]
            node_dir.mkdir(parents=True, exist_ok=True)
            # EmbeddedServer keeps its password beside its config: every node the same one.
            _write_private(node_dir / _ENGINE_SECRET, password)
            spec = ClusterSpec(
                name=CLUSTER_NAME,
                server_name=node["name"],
                host=host,
                port=node["route"],
                routes=tuple(r for r in routes if not r.endswith(f":{node['route']}")),
                route_user=ROUTE_USER,
                route_password=route_password,
            )
            self.nodes.append(
                EmbeddedServer(node_dir, host=host, port=node["client"], cluster=spec)
            )

    def _layout(self, nodes: int) -> list[dict[str, int | str]]:
        """The nodes' names and ports: as kept from an earlier start, else new ones."""
        path = self.data_dir / _LAYOUT_NAME
        if path.exists():
            layout = list(json.loads(path.read_text())["nodes"])
            if len(layout) != nodes:
                raise ServerError(
                    f"{self.data_dir} holds a cluster of {len(layout)} nodes, not {nodes}: "
                    "use that number or another directory"
                )
            return layout
        layout = []
        taken: set[int] = set()
        for i in range(1, nodes + 1):
            ports = []
            while len(ports) < 2:
                port = free_port(self.host)
                if port not in taken:
                    taken.add(port)
                    ports.append(port)
            layout.append({"name": f"n{i}", "client": ports[0], "route": ports[1]})
        _write_private(path, json.dumps({"nodes": layout}, indent=1))
        return layout

    # --- addresses and credentials ---

    @property
    def urls(self) -> list[str]:
        """Each node's client URL, without credentials."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated: what `RAGSTACK_NATS_URL` takes."""
        return ",".join(self.urls)

    @property
    def user(self) -> str:
        """The engine's user on every node."""
        return ENGINE_USER

    @property
    def password(self) -> str:
        """The engine user's password (kept in `<data_dir>/engine.password`)."""
        return (self.data_dir / _ENGINE_SECRET).read_text().strip()

    @property
    def password_file(self) -> Path:
        """Where the engine user's password is kept."""
        return self.data_dir / _ENGINE_SECRET

    def index_of(self, server_name: str) -> int:
        """The node named `server_name` (as JetStream reports a leader or replica)."""
        for i, node in enumerate(self.nodes):
            if node.cluster is not None and node.cluster.server_name == server_name:
                return i
        raise KeyError(server_name)

    # --- life cycle ---

    async def start(self, *, ready_within: float = 60.0) -> None:
        """Start every node that is not running, then wait until JetStream answers."""
        try:
            await asyncio.gather(*(node.start() for node in self.nodes if not node.running))
            await self.wait_ready(ready_within)
        except BaseException:
            await self.stop()
            raise

    async def wait_ready(self, within: float = 60.0) -> None:
        """Return once the cluster can place a stream on as many nodes as an R3 log needs
        (min(3, nodes)): a meta leader alone is not enough, right after a start it may not yet
        know its peers, and a chapter created then fails with "no suitable peers"."""
        nc = await self.connect(connect_timeout=within)
        probe = StreamConfig(
            name=_PROBE_STREAM,
            subjects=[_PROBE_SUBJECT],
            storage=StorageType.MEMORY,
            num_replicas=min(3, len(self.nodes)),
        )
        try:
            deadline = time.monotonic() + within
            while True:
                try:
                    js = nc.jetstream(timeout=5)
                    await js.add_stream(probe)
                    await js.delete_stream(_PROBE_STREAM)
                    return
                except (nats.errors.Error, OSError) as exc:
                    if time.monotonic() > deadline:
                        raise ServerError(
                            f"the cluster's JetStream did not answer within {within} s: {exc!r}"
                        ) from None
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    async def connect(self, *, connect_timeout: float = 10.0, name: str = "ragstack") -> NATS:
        """The engine's connection to the cluster (any node; it fails over to the others)."""
        try:
            return await open_nats(
                self.url, self.user, self.password, name=name, connect_timeout=connect_timeout
            )
        except LogUnavailable as exc:
            raise ServerError(str(exc)) from None

    async def stop(self) -> None:
        """Stop every node cleanly (SIGTERM: JetStream flushes and steps down)."""
        await asyncio.gather(*(node.stop() for node in self.nodes), return_exceptions=True)

    def stop_sync(self) -> None:
        """`stop` without an event loop."""
        for node in self.nodes:
            node.stop_sync()

    def kill(self, i: int) -> None:
        """SIGKILL node `i`, as a crash would; `start_node(i)` brings it back."""
        self.nodes[i].kill()

    async def start_node(self, i: int) -> None:
        """Start node `i` again on its store and ports."""
        await self.nodes[i].start()

    async def rebuild_node(self, i: int) -> Path:
        """Give node `i` a fresh store, to be refilled from its peers: stop it, move its JetStream
        directory aside (returned, for a post-mortem), start it. The leaders then send it every
        stream it holds a replica of. For a node whose store was damaged (a chain check named
        a bad or missing rev there while its peers verify): JetStream does not repair such a
        replica on its own, and may even report it current (docs/deploy.md, "Damaged stores")."""
        node = self.nodes[i]
        await node.stop()
        store = node.store_dir / "jetstream"
        aside = store.with_name(f"jetstream.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        if store.exists():
            store.rename(aside)
        await node.start()
        return aside

    def pause(self, i: int) -> None:
        """SIGSTOP node `i`: alive to the kernel, silent to its peers (a long GC, a frozen VM)."""
        pid = self.nodes[i].pid
        if pid is None:
            raise ServerError(f"node {i} is not running")
        os.kill(pid, signal.SIGSTOP)

    def resume(self, i: int) -> None:
        """SIGCONT node `i` after `pause`."""
        pid = self.nodes[i].pid
        if pid is None:
            raise ServerError(f"node {i} is not running")
        os.kill(pid, signal.SIGCONT)

    async def leader_of(self, nc: NATS, stream: str, *, within: float = 30.0) -> int:
        """The node that leads `stream` now (waiting, bounded, while it elects one)."""
        deadline = time.monotonic() + within
        while True:
            try:
                info = await nc.jetstream(timeout=2).stream_info(stream)
                if info.cluster is not None and info.cluster.leader:
                    return self.index_of(info.cluster.leader)
            except (nats.errors.Error, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"{stream} has no leader after {within} s")
            await asyncio.sleep(0.1)
