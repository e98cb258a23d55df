"""A copy checked by its reader, against the real app: the copy's manifest is served, and the
client proves every copied event against the original's signed root, as the server does; a copy
whose events are not the original's fails both, naming the rev."""

from __future__ import annotations

import httpx
import msgspec

from app.services import Services
from client.sdk import ApiError, AsyncClient
from events import ChapterForked, SourceAdded, decode
from events.copies import check_signed, decode_manifest, manifest_hash
from gateway.app import create_app


async def _copy(services: Services, alice: AsyncClient, bob: AsyncClient) -> tuple[str, str]:
    """Alice's chapter of two sources, copied by Bob through a copy share: (original, copy)."""
    book = await alice.create_book("Owls")
    made = await alice.create_chapter(book.id, "Owls")
    await alice.upload(made.id, b"Owls hunt at night.", name="owls.txt", wait=True)
    await alice.upload(made.id, b"Barn owls nest in barns.", name="barns.txt", wait=True)
    share = await alice.share(made.id, mode="copy", to="bob@example.com", scope=["sources"])
    copy = await bob.accept_share(share.token)
    return made.id, copy.id


async def test_a_copy_verifies_here_against_the_originals_signed_root(services, alice):
    async with AsyncClient(
        "http://ragstack.test", transport=httpx.ASGITransport(create_app(services))
    ) as bob:
        await bob.signup("bob@example.com", "correct horse battery", "Bob")
        original, copy = await _copy(services, alice, bob)
        data = await bob.fetch_bytes(f"/v1/chapters/{copy}/manifest")
        manifest = decode_manifest(data)
        assert manifest.from_chapter == original and manifest.signed_head is not None
        # Bob is no member of Alice's book: the keys came with the share, and they are hers.
        keys = await alice.book_keys((await alice.chapter(original)).book)
        proved = check_signed(manifest)
        assert proved.ok and proved.signed_by == keys.current
        here, server = await bob.verify_here(copy), await bob.verify(copy)
        assert here.ok and server.ok, (here.reason, server.reason)
        assert here.head == server.head

        # A copy written by a tampering server: the same manifest, the second source retagged
        # (its name is sealed in a personal blob the log keeps as it was: tags are in the chain).
        guest_book = (await bob.books())[0].id
        fork = ChapterForked(
            book=guest_book, title="Forged", from_chapter=original,
            from_rev=manifest.from_rev, from_head=manifest.from_head,
            from_root=manifest.from_root, manifest=manifest_hash(data),
        )  # fmt: skip
        forged = await services.books.start_chapter(guest_book, fork, actor="bob")
        bodies = [decode(e.payload).body for e in manifest.events]
        i = [n for n, b in enumerate(bodies) if isinstance(b, SourceAdded)][1]
        bodies[i] = msgspec.structs.replace(bodies[i], tags=["forged"])
        await services.logs.chapter(forged).append_many(bodies, actor="bob")
        me = (await bob.me()).id
        await services.books.register_shared(me, guest_book, forged, "Forged", share=None)
        here, server = await bob.verify_here(forged), await bob.verify(forged)
        rev = manifest.events[i].rev
        for result in (here, server):
            assert not result.ok and result.first_bad_rev == i + 2
            assert f"the original's rev {rev}" in (result.reason or "")
        # A chapter that is no copy has no manifest.
        error = await _status(bob, f"/v1/chapters/{original}/manifest")
        assert error in (403, 404)


async def _status(client: AsyncClient, path: str) -> int:
    try:
        await client.fetch_bytes(path)
    except ApiError as exc:
        return exc.status
    return 200
