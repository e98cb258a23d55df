"""The blob store contract, run against a local directory and against S3 (moto's real HTTP server)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tracemalloc
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

import rust_core
from engine.blobs import (
    CHUNK_SIZE,
    BlobInfo,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    blob_hash,
    open_blob_store,
)
from engine.errors import (
    BlobCorrupt,
    BlobNotFound,
    BlobStoreConfigError,
    BlobStoreUnavailable,
    BlobTooLarge,
    InvalidBlobHash,
)

# BLAKE3 of the empty input, from the BLAKE3 reference test vectors.
EMPTY_HASH = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
REGION = "us-east-1"
KEYS = {"access_key": "testing", "secret_key": "testing"}

BAD_HASHES = [
    "",
    "abc",
    EMPTY_HASH.upper(),
    EMPTY_HASH[:-1],
    EMPTY_HASH + "0",
    EMPTY_HASH + "\n",
    EMPTY_HASH[:-1] + "g",
    "../" + EMPTY_HASH[3:],
    "/" * 64,
    "..%2f" + EMPTY_HASH[5:],
    None,
    EMPTY_HASH.encode(),
]


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes that do not repeat within a chunk (so a misplaced slice shows)."""
    block = bytes((i * 31 + seed) % 251 for i in range(251))
    return (block * (size // len(block) + 1))[:size]


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class BlobStoreContract:
    """Behaviour every backend must show. Subclasses provide `store`, `listing` and `corrupt`."""

    async def listing(self, store: BlobStore) -> list[str]:
        """Everything the backend holds, including temporary files it may have left behind."""
        raise NotImplementedError

    async def corrupt(self, store: BlobStore, hash: str, data: bytes) -> None:
        """Replace the stored bytes of `hash` with `data`, behind the store's back."""
        raise NotImplementedError

    async def test_put_then_get_returns_the_same_bytes(self, store: BlobStore):
        for data in (b"", b"hello blobs", payload(200_000)):
            digest = await store.put(data)
            assert await store.get(digest) == data
            assert await store.size(digest) == len(data)
            assert await store.exists(digest)
        assert await store.put(b"") == EMPTY_HASH

    async def test_many_small_blobs_at_once(self, store: BlobStore):
        # The personal blobs of a bulk append, and of a fold's batch (engine/personal.py).
        blobs = [payload(40 + i, seed=i) for i in range(50)] + [payload(200_000, seed=99)]
        digests = await store.put_many(blobs)
        assert digests == [blob_hash(b) for b in blobs]
        missing = blob_hash(b"never stored")
        found = await store.get_many([*digests, missing, digests[0]])
        assert found == {**dict(zip(digests, blobs, strict=True)), missing: None}
        await self.corrupt(store, digests[1], b"other bytes")
        with pytest.raises(BlobCorrupt):
            await store.get_many([digests[1]])
        assert [p for p in await self.listing(store) if ".incoming" in p] == []

    async def test_put_is_idempotent(self, store: BlobStore):
        data = payload(5000)
        first = await store.put(data)
        before = await self.listing(store)
        assert await store.put(data) == first
        info = await store.put_stream(chunked(data, 700))
        assert info == BlobInfo(hash=first, size=len(data))
        assert await self.listing(store) == before
        assert len(before) == 1

    async def test_put_stream_stores_the_concatenation(self, store: BlobStore):
        # Over two CHUNK_SIZEs in uneven pieces, so buffering across writes is exercised.
        data = payload(2 * CHUNK_SIZE + 12345, seed=3)
        info = await store.put_stream(chunked(data, 100_003))
        assert info == BlobInfo(hash=await store.put(data), size=len(data))
        assert await store.get(info.hash) == data

    async def test_put_stream_of_nothing_stores_the_empty_blob(self, store: BlobStore):
        info = await store.put_stream(chunked(b"", 10))
        assert info == BlobInfo(hash=EMPTY_HASH, size=0)
        assert await store.get(EMPTY_HASH) == b""

    async def test_put_stream_at_the_limit_is_accepted_one_byte_more_is_not(self, store: BlobStore):
        data = payload(4097)
        info = await store.put_stream(chunked(data[:4096], 1000), max_size=4096)
        assert await store.get(info.hash) == data[:4096]
        before = await self.listing(store)
        with pytest.raises(BlobTooLarge):
            await store.put_stream(chunked(data, 1000), max_size=4096)
        assert await self.listing(store) == before

    async def test_put_stream_past_the_limit_keeps_nothing(self, store: BlobStore):
        consumed = 0

        async def upload() -> AsyncIterator[bytes]:
            nonlocal consumed
            for _ in range(100):
                consumed += 1
                yield b"x" * 1000

        with pytest.raises(BlobTooLarge) as caught:
            await store.put_stream(upload(), max_size=4096)
        assert caught.value.limit == 4096
        assert "4096" in str(caught.value)
        # Reading stopped at the chunk that crossed the limit, and no byte was kept.
        assert consumed == 5
        assert await self.listing(store) == []

    async def test_a_failing_upload_keeps_nothing(self, store: BlobStore):
        async def broken() -> AsyncIterator[bytes]:
            yield b"partial"
            raise ConnectionResetError("client went away")

        with pytest.raises(ConnectionResetError):
            await store.put_stream(broken())
        assert await self.listing(store) == []

    async def test_put_file_stores_the_file(self, store: BlobStore, tmp_path: Path):
        data = payload(CHUNK_SIZE + 17, seed=5)
        source = tmp_path / "upload.bin"
        source.write_bytes(data)
        digest = await store.put_file(source)
        assert digest == await store.put(data)
        assert await store.get(digest) == data
        with pytest.raises(FileNotFoundError):
            await store.put_file(tmp_path / "absent.bin")
        with pytest.raises(BlobTooLarge):
            await store.put_file(source, max_size=CHUNK_SIZE)

    async def test_iter_yields_the_blob_in_chunks(self, store: BlobStore):
        data = payload(10_000, seed=7)
        digest = await store.put(data)
        chunks = [chunk async for chunk in store.iter(digest, chunk_size=3000)]
        assert [len(c) for c in chunks] == [3000, 3000, 3000, 1000]
        assert b"".join(chunks) == data
        empty = await store.put(b"")
        assert [chunk async for chunk in store.iter(empty)] == []

    async def test_missing_blob_is_reported(self, store: BlobStore):
        missing = "0" * 64
        assert not await store.exists(missing)
        with pytest.raises(BlobNotFound) as caught:
            await store.get(missing)
        assert missing in str(caught.value)
        with pytest.raises(BlobNotFound):
            await store.size(missing)
        with pytest.raises(BlobNotFound):
            async for _ in store.iter(missing):
                pass
        assert await store.delete(missing) is False

    @pytest.mark.parametrize("bad", BAD_HASHES, ids=repr)
    async def test_bad_hash_strings_are_rejected(self, store: BlobStore, bad: object):
        for call in (store.get, store.exists, store.size, store.delete):
            with pytest.raises(InvalidBlobHash) as caught:
                await call(bad)  # type: ignore[arg-type]
            assert isinstance(caught.value, ValueError)
            assert "64 lower-case hex digits" in str(caught.value)
        with pytest.raises(InvalidBlobHash):
            async for _ in store.iter(bad):  # type: ignore[arg-type]
                pass
        assert await self.listing(store) == []

    async def test_corrupt_blob_is_reported_never_served(self, store: BlobStore):
        data = payload(3000, seed=9)
        digest = await store.put(data)
        # Same length, one byte flipped: only the hash can tell.
        tampered = bytearray(data)
        tampered[1234] ^= 0x01
        await self.corrupt(store, digest, bytes(tampered))

        with pytest.raises(BlobCorrupt) as caught:
            await store.get(digest)
        assert caught.value.hash == digest
        assert caught.value.actual == await store.put(bytes(tampered))
        assert digest in str(caught.value)
        received: list[bytes] = []
        with pytest.raises(BlobCorrupt):
            async for chunk in store.iter(digest, chunk_size=100):
                received.append(chunk)
        assert received == []

    async def test_put_repairs_a_truncated_blob(self, store: BlobStore):
        data = payload(3000, seed=11)
        digest = await store.put(data)
        await self.corrupt(store, digest, data[:1000])
        with pytest.raises(BlobCorrupt):
            await store.get(digest)
        assert await store.put(data) == digest
        assert await store.get(digest) == data

    async def test_concurrent_puts_of_one_blob_are_safe(self, store: BlobStore):
        data = payload(300_000, seed=13)

        async def put_one(i: int) -> str:
            if i % 2:
                return (await store.put_stream(chunked(data, 65_536))).hash
            return await store.put(data)

        digests = await asyncio.gather(*(put_one(i) for i in range(8)))
        assert len(set(digests)) == 1
        assert await store.get(digests[0]) == data
        assert len(await self.listing(store)) == 1

    async def test_concurrent_puts_of_different_blobs_all_land(self, store: BlobStore):
        blobs = [payload(1000 + i, seed=i) for i in range(10)]
        digests = await asyncio.gather(*(store.put(b) for b in blobs))
        assert [await store.get(d) for d in digests] == blobs
        assert len(await self.listing(store)) == 10

    async def test_delete_removes_the_blob(self, store: BlobStore):
        digest = await store.put(b"to be removed")
        assert await store.delete(digest) is True
        assert not await store.exists(digest)
        with pytest.raises(BlobNotFound):
            await store.get(digest)
        assert await store.delete(digest) is False
        assert await self.listing(store) == []


# --- local directory ---


class TestLocalBlobStore(BlobStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[LocalBlobStore]:
        store = LocalBlobStore(tmp_path / "blobs")
        yield store
        await store.aclose()

    async def listing(self, store: BlobStore) -> list[str]:
        assert isinstance(store, LocalBlobStore)
        return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())

    async def corrupt(self, store: BlobStore, hash: str, data: bytes) -> None:
        assert isinstance(store, LocalBlobStore)
        store.path(hash).write_bytes(data)

    async def test_blobs_live_under_two_levels_of_fan_out(self, store: LocalBlobStore):
        digest = await store.put(b"layout")
        assert store.path(digest) == store.root / digest[:2] / digest[2:4] / digest
        assert await self.listing(store) == [f"{digest[:2]}/{digest[2:4]}/{digest}"]

    async def test_open_blob_store_takes_a_path_or_file_url(self, tmp_path: Path):
        for location in (str(tmp_path / "a"), tmp_path / "b", f"file://{tmp_path / 'c'}"):
            store = open_blob_store(location)
            assert isinstance(store, LocalBlobStore)
            assert await store.get(await store.put(b"x")) == b"x"
        assert open_blob_store(tmp_path / "a").root == tmp_path / "a"

    async def test_a_large_streamed_blob_hashes_as_one_shot_in_bounded_memory(
        self, store: LocalBlobStore, tmp_path: Path
    ):
        # 40 MiB in an odd length, so the last incremental piece is a partial one.
        size = 40 * CHUNK_SIZE + 4321
        source = tmp_path / "large.bin"
        data = payload(size, seed=17)
        source.write_bytes(data)
        one_shot = blob_hash(data)
        del data
        tracemalloc.start()
        try:
            digest = await store.put_file(source)
            streamed = rust_core.Hasher()
            async for chunk in store.iter(digest):
                streamed.update(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert digest == one_shot
        assert streamed.hexdigest() == one_shot
        # Neither the upload's hashing nor the verified read held the blob: a few chunks at most.
        assert peak < 8 * CHUNK_SIZE, peak

    def test_an_unusable_root_is_a_clear_error(self, tmp_path: Path):
        (tmp_path / "file").write_bytes(b"")
        with pytest.raises(BlobStoreUnavailable, match="cannot use"):
            LocalBlobStore(tmp_path / "file" / "blobs")


# --- S3 (moto's server on loopback) ---


@pytest.fixture(scope="module")
def s3_endpoint() -> AsyncIterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def raw_client(endpoint: str, access_key: str = "testing", secret_key: str = "testing"):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )


def set_moto_auth(endpoint: str, unchecked_requests: bytes) -> None:
    """Tell moto how many more requests to let through before it enforces IAM signatures."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=unchecked_requests,
        headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"blobs-{uuid.uuid4().hex[:12]}"
    raw_client(s3_endpoint).create_bucket(Bucket=name)
    return name


class TestS3BlobStore(BlobStoreContract):
    @pytest.fixture
    async def store(
        self, s3_endpoint: str, bucket: str, tmp_path: Path
    ) -> AsyncIterator[S3BlobStore]:
        spool = tmp_path / "spool"
        spool.mkdir()
        store = S3BlobStore(
            bucket, endpoint_url=s3_endpoint, region=REGION, spool_dir=spool, **KEYS
        )
        yield store
        await store.aclose()

    async def listing(self, store: BlobStore) -> list[str]:
        assert isinstance(store, S3BlobStore) and store.endpoint_url
        response = raw_client(store.endpoint_url).list_objects_v2(Bucket=store.bucket)
        keys = [obj["Key"] for obj in response.get("Contents", [])]
        assert store._spool_dir is not None
        spooled = [f"spool:{p.name}" for p in store._spool_dir.iterdir()]
        return sorted(keys + spooled)

    async def corrupt(self, store: BlobStore, hash: str, data: bytes) -> None:
        assert isinstance(store, S3BlobStore) and store.endpoint_url
        raw_client(store.endpoint_url).put_object(
            Bucket=store.bucket, Key=store.key(hash), Body=data
        )

    async def test_iter_streams_a_large_blob_in_chunk_size_pieces(self, store: S3BlobStore):
        # Several download pieces and an odd tail, read back in a size that does not divide them.
        data = payload(3 * CHUNK_SIZE + 12345, seed=19)
        digest = await store.put(data)
        chunks = [chunk async for chunk in store.iter(digest, chunk_size=700_001)]
        assert all(len(c) == 700_001 for c in chunks[:-1])
        assert 0 < len(chunks[-1]) <= 700_001
        assert b"".join(chunks) == data
        assert await self.listing(store) == [store.key(digest)]

    async def test_iter_given_up_early_leaves_nothing_behind(self, store: S3BlobStore):
        data = payload(2 * CHUNK_SIZE + 1, seed=23)
        digest = await store.put(data)
        chunks = store.iter(digest, chunk_size=1000)
        assert await anext(chunks) == data[:1000]
        await chunks.aclose()
        assert await self.listing(store) == [store.key(digest)]
        # The connection it held was handed back in a usable state.
        assert await store.get(digest) == data

    async def test_iter_of_a_large_blob_corrupt_at_its_end_yields_nothing(self, store: S3BlobStore):
        # Only the last byte differs, so the whole object must be hashed before the first yield.
        data = payload(2 * CHUNK_SIZE + 1, seed=29)
        digest = await store.put(data)
        tampered = bytearray(data)
        tampered[-1] ^= 0x01
        await self.corrupt(store, digest, bytes(tampered))
        received: list[bytes] = []
        with pytest.raises(BlobCorrupt) as caught:
            async for chunk in store.iter(digest, chunk_size=1000):
                received.append(chunk)
        assert received == []
        assert caught.value.actual == blob_hash(bytes(tampered))
        assert f"s3://{store.bucket}/{store.key(digest)}" in str(caught.value)
        assert await self.listing(store) == [store.key(digest)]

    async def test_iter_of_a_large_blob_holds_a_few_chunks_at_most(
        self, store: S3BlobStore, s3_endpoint: str, tmp_path: Path
    ):
        size = 32 * CHUNK_SIZE + 4321
        data = payload(size, seed=31)
        digest = await store.put(data)
        del data
        # moto serves from this process, so the reader is measured in a process of its own.
        code = """
import asyncio, json, sys, tracemalloc
import rust_core
from engine.blobs.s3 import S3BlobStore

async def main(endpoint, bucket, digest, spool):
    store = S3BlobStore(bucket, endpoint_url=endpoint, region="us-east-1", spool_dir=spool,
                        access_key="testing", secret_key="testing")
    await store.exists(digest)  # set up the client and its connection before measuring
    hasher, largest = rust_core.Hasher(), 0
    tracemalloc.start()
    async for chunk in store.iter(digest):
        hasher.update(chunk)
        largest = max(largest, len(chunk))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await store.aclose()
    print(json.dumps({"digest": hasher.hexdigest(), "largest": largest, "peak": peak}))

asyncio.run(main(*sys.argv[1:]))
"""
        assert store._spool_dir is not None
        args = [s3_endpoint, store.bucket, digest, str(store._spool_dir)]
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        figures = json.loads(out.stdout)
        assert figures["digest"] == digest
        assert figures["largest"] == CHUNK_SIZE
        # Reading the object whole would hold over 32 MiB.
        assert figures["peak"] < 8 * CHUNK_SIZE, figures

    async def test_objects_are_keyed_by_prefix_and_hash(self, store: S3BlobStore):
        digest = await store.put(b"keyed")
        assert await self.listing(store) == [f"blobs/{digest}"]

    async def test_open_blob_store_reads_an_s3_url(self, s3_endpoint: str, bucket: str):
        store = open_blob_store(
            f"s3://{bucket}/team/one?endpoint={s3_endpoint}&region={REGION}", **KEYS
        )
        assert isinstance(store, S3BlobStore)
        assert (store.bucket, store.prefix, store.endpoint_url) == (
            bucket,
            "team/one/",
            s3_endpoint,
        )
        digest = await store.put(b"via url")
        assert await store.get(digest) == b"via url"
        keys = [
            o["Key"] for o in raw_client(s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]
        ]
        assert keys == [f"team/one/{digest}"]
        default = open_blob_store(f"s3://{bucket}?endpoint={s3_endpoint}", **KEYS)
        assert isinstance(default, S3BlobStore) and default.prefix == "blobs/"
        await store.aclose()
        await default.aclose()

    async def test_missing_bucket_is_a_clear_error(self, s3_endpoint: str):
        store = S3BlobStore("no-such-bucket", endpoint_url=s3_endpoint, region=REGION, **KEYS)
        digest = "0" * 64
        # HEAD gives a bare 404 for a missing bucket too: it must not read as "blob absent".
        for call in (store.exists, store.size, store.get):
            with pytest.raises(BlobStoreUnavailable, match="'no-such-bucket' does not exist"):
                await call(digest)
        with pytest.raises(BlobStoreUnavailable, match="'no-such-bucket' does not exist"):
            async for _ in store.iter(digest):
                pass
        with pytest.raises(BlobStoreUnavailable, match="does not exist"):
            await store.put(b"data")
        with pytest.raises(BlobStoreUnavailable, match="does not exist"):
            await store.put_stream(chunked(b"data", 2))
        await store.aclose()

    async def test_wrong_credentials_are_a_clear_error(self, s3_endpoint: str, bucket: str):
        # moto checks signatures only once IAM enforcement is on; give it a real key first.
        iam = boto3.client(
            "iam",
            endpoint_url=s3_endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        user = f"u-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        good = S3BlobStore(
            bucket,
            endpoint_url=s3_endpoint,
            region=REGION,
            access_key=key["AccessKeyId"],
            secret_key=key["SecretAccessKey"],
        )
        wrong_secret = S3BlobStore(
            bucket,
            endpoint_url=s3_endpoint,
            region=REGION,
            access_key=key["AccessKeyId"],
            secret_key="not-the-secret",
        )
        unknown_key = S3BlobStore(
            bucket,
            endpoint_url=s3_endpoint,
            region=REGION,
            access_key="AKIAUNKNOWN",
            secret_key="x",
        )
        set_moto_auth(s3_endpoint, b"0")  # from now on every request must be signed
        try:
            digest = await good.put(b"signed")
            assert await good.get(digest) == b"signed"
            for store in (wrong_secret, unknown_key):
                for call in (store.get, store.exists, store.size):
                    with pytest.raises(BlobStoreUnavailable, match="access denied"):
                        await call(digest)
                with pytest.raises(BlobStoreUnavailable, match="access denied"):
                    async for _ in store.iter(digest):
                        pass
                with pytest.raises(BlobStoreUnavailable, match="access denied"):
                    await store.put(b"unsigned")
        finally:
            set_moto_auth(s3_endpoint, b"inf")
        for store in (good, wrong_secret, unknown_key):
            await store.aclose()

    async def test_unreachable_endpoint_is_a_clear_error(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        store = S3BlobStore(
            "bucket", endpoint_url=f"http://127.0.0.1:{port}", region=REGION, **KEYS
        )
        with pytest.raises(BlobStoreUnavailable, match="Could not connect"):
            await store.exists("0" * 64)
        await store.aclose()


# --- the factory's bad input, and import cost ---


@pytest.mark.parametrize(
    "location",
    ["", "gs://bucket/x", "s3://", "s3:///prefix", "s3://bucket?bogus=1", "s3://key:secret@bucket"],
)
def test_open_blob_store_rejects_bad_locations(location: str):
    with pytest.raises(BlobStoreConfigError) as caught:
        open_blob_store(location)
    assert isinstance(caught.value, ValueError)


def test_half_a_credential_pair_is_rejected():
    with pytest.raises(BlobStoreConfigError, match="both"):
        S3BlobStore("bucket", access_key="only-the-key")


def test_an_s3_store_without_its_extra_names_the_extra(monkeypatch):
    # boto3 absent, as on an install without the extra: its import fails.
    monkeypatch.setitem(sys.modules, "engine.blobs.s3", None)
    with pytest.raises(BlobStoreConfigError, match=r"ragstack\[s3\]"):
        open_blob_store("s3://bucket/prefix")


def test_local_store_does_not_import_boto3():
    code = "import sys, engine.blobs; print('boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
