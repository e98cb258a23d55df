"""Direct guests over TLS: with `[nats] tls_cert`/`tls_key` the embedded server speaks TLS to
every client, the engine's own connection included; a guest trusts the certificate its grant
carries (a self-made one needs no authority), and no one gets in without TLS."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.errors import LogUnavailable
from engine.guests import GuestUsers
from engine.jetstream.guest import follow_direct
from engine.log import Log
from engine.nats import engine_connection, open_nats
from engine.server import EmbeddedServer, ServerError
from engine.server_config import TlsFiles
from events import ChapterRenamed, new_id


def _self_made_certificate(folder: Path) -> TlsFiles:
    """What an owner makes with openssl: a self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ragstack owner")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(folder / "nats.crt", folder / "nats.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


async def test_a_guest_follows_over_tls_and_nobody_connects_in_the_clear(tmp_path: Path):
    tls = _self_made_certificate(tmp_path)
    async with engine_connection(tmp_path / "data", tls=tls) as connection:
        server = connection.server
        assert server is not None and server.url.startswith("tls://")
        log = Log(connection.nc, new_id())
        await log.create()
        await log.append_many([ChapterRenamed(title=f"t{i}") for i in range(3)], actor="o")
        grant = await GuestUsers(server, connection.nc).grant(new_id(), log.id)
        assert grant.url.startswith("tls://") and grant.certificate == tls.cert.read_text()

        # The guest reads its chapter over TLS, live appends included.
        reader = follow_direct(grant, log.id)
        got = [await anext(reader) for _ in range(3)]
        await log.append(ChapterRenamed(title="live"), actor="o")
        got.append(await anext(reader))
        assert got == [e async for e in log.read()]
        await reader.aclose()

        # Without TLS the server answers nobody, the guest's password never leaves in the clear.
        plain = f"nats://127.0.0.1:{server.port}"
        with pytest.raises(LogUnavailable):
            await open_nats(plain, grant.user, grant.password, connect_timeout=2)
        # TLS that trusts only the system's authorities refuses the self-made certificate.
        with pytest.raises(LogUnavailable):
            await open_nats(
                grant.url, grant.user, grant.password,
                tls=ssl.create_default_context(), connect_timeout=2,
            )  # fmt: skip

        # Another process on the same data joins the server with its TLS, unconfigured.
        started = time.monotonic()
        async with engine_connection(tmp_path / "data") as joined:
            assert joined.server is not None and joined.server.tls == tls
            assert (await Log(joined.nc, log.id).head()).rev == 4
        assert time.monotonic() - started < 10
        await log.close()


async def test_a_missing_certificate_file_is_named(tmp_path: Path):
    server = EmbeddedServer(
        tmp_path / "nats", tls=TlsFiles(tmp_path / "absent.crt", tmp_path / "absent.key")
    )
    with pytest.raises(ServerError, match=r"absent\.crt"):
        await server.start()
