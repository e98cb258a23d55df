"""The engine's configuration sections: where the logs live, what one event or request may carry,
and how far the server may reach when it fetches web pages for its users.

They are sections of `ragstack.toml` (`[nats]`, `[limits]`, `[web]`); the whole file is decoded by
app/settings.py, which also maps `RAGSTACK_*` environment variables onto them.
"""

from pathlib import Path

import msgspec

from engine.server_config import TlsFiles


class NatsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the logs live. No URL: the embedded nats-server in the data directory."""

    url: str | None = None
    """An external NATS server or cluster, e.g. `nats://127.0.0.1:4222`."""
    user: str | None = None
    """User for the external server."""
    password: str | None = None
    """Password for the external server."""
    replicas: int = 1
    """Stream replicas: 3 on a cluster."""
    listen: str | None = None
    """The embedded server's client address, "host:port" (default: loopback, a free port).

    Direct-share guests dial it: to serve guests on other machines listen beyond loopback, set
    `guest_url`, and give it a certificate (`tls_cert`, `tls_key`).
    """
    guest_url: str | None = None
    """The URL direct-share guests are told to dial (default: `nats://` + the listen address,
    `tls://` with a certificate)."""
    tls_cert: str | None = None
    """The embedded server's certificate, a PEM file (the chain, if an authority issued it). With
    `tls_key`, every client connection is TLS, and direct-share guests are handed the
    certificate to trust, so a self-made one serves as well as an authority's."""
    tls_key: str | None = None
    """The certificate's private key, a PEM file."""

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("[nats] tls_cert and tls_key go together: give both or neither")
        if self.tls_cert is not None and self.url is not None:
            raise ValueError(
                "[nats] tls_cert is for the embedded server; an external NATS (url) has its "
                "own TLS settings: use a tls:// url"
            )

    def tls_files(self) -> TlsFiles | None:
        """The embedded server's TLS files, if configured."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        return TlsFiles(Path(self.tls_cert), Path(self.tls_key))


class Limits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Safe defaults for what one request or event may carry."""

    upload_bytes: int = 200 * 2**20
    """Largest upload accepted (413 past it)."""
    event_bytes: int = 256 * 2**10
    """Largest event payload appended to a log (far below NATS max_payload)."""
    requests_per_minute_token: int = 600
    """Rate limit per API token."""
    requests_per_minute_address: int = 300
    """Rate limit per client address for unauthenticated requests."""


class WebSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the server fetches web pages that users add as sources."""

    allow_private_addresses: bool = False
    """Fetch from loopback and private networks too (an intranet wiki, a one-user machine).

    Off by default: a server that fetches URLs for its users must not become their way into
    its own network (SSRF). Turn it on only where every user may reach that network anyway.
    """
