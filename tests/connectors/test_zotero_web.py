"""The Zotero Web API connector against a local server speaking the API's wire protocol."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.connectors import ConnectorError, ConnectorUnavailable, CredentialRejected
from engine.connectors.http import ServiceClient
from engine.connectors.sync import held_items, sync
from engine.connectors.zotero_web import ZoteroWeb
from engine.rules import Invalid
from events import SourceAdded, SourceRejected, SourceRemoved, SourceRevised
from tests.connectors.connector_support import Sleeps, opened
from tests.connectors.zotero_support import pdf_bytes
from tests.fakes.zotero_server import FakeZotero

CONNECTOR = "c-web"


@pytest.fixture
def zotero():
    with FakeZotero() as fake:
        fake.collection("COLL0001", "Thesis")
        fake.collection("COLL0002", "Ch2", parent="COLL0001")
        for n in range(130):  # more than one page of 100
            parent = f"PAPER{n:03d}"
            fake.put(parent, itemType="journalArticle", title=f"Paper {n}", date=f"{1990 + n % 30}",
                     creators=[{"creatorType": "author", "firstName": "Ada", "lastName": f"Smith{n}"}],
                     DOI=f"10.1/{n}", tags=[{"tag": "copper"}], collections=["COLL0002"])  # fmt: skip
            fake.attach(f"FILE0{n:03d}", parent, f"paper{n}.pdf", pdf_bytes(f"paper {n} text"))
        yield fake


def connector(zotero: FakeZotero, sleeps: Sleeps, key: str | None = None) -> ZoteroWeb:
    client = ServiceClient(
        zotero.base_url, service="Zotero", allow_private=True, sleep=sleeps,
        headers={"Zotero-API-Key": key or zotero.api_key, "Zotero-API-Version": "3"},
    )  # fmt: skip
    return ZoteroWeb(client, zotero.library)


async def run(zotero, log, blobs, cursor, sleeps=None, key=None):
    head = (await log.head()).rev
    web = connector(zotero, sleeps if sleeps is not None else Sleeps(), key)
    try:
        report = await sync(web, log, blobs, connector_id=CONNECTOR, actor="u", cursor=cursor)
    finally:
        await web.client.close()
    return report, await opened(log, blobs, head)


async def test_a_full_sync_then_an_incremental_sync_moves_only_what_changed(zotero, log, blobs):
    report, bodies = await run(zotero, log, blobs, None)
    assert report.added == 130 and len(bodies) == 130
    first = next(b for b in bodies if isinstance(b, SourceAdded) and b.ref == "FILE0007")
    assert first.meta.cite() == "Smith7 (1997)" and first.meta.doi == "10.1/7"
    assert first.tags == ["collection:/Thesis/Ch2", "copper", "type:journalArticle"]
    assert report.cursor == str(zotero.version)
    assert any("start=100" in str(q) or q.get("start") == "100" for _, q, _ in zotero.requests)

    again, bodies = await run(zotero, log, blobs, report.cursor)
    assert bodies == [] and again.listed == 0
    assert any(p.endswith("/items") and h.get("if-modified-since-version") == report.cursor
               for p, _, h in zotero.requests)  # fmt: skip

    zotero.put("PAPER003", title="Paper 3, revised")
    zotero.files["FILE0005"] = pdf_bytes("paper 5, second version")
    zotero.put("FILE0005")
    zotero.remove("FILE0009")
    zotero.put("PAPER011", deleted=1)  # into the trash
    zotero.requests.clear()
    report, bodies = await run(zotero, log, blobs, again.cursor)
    assert Counter(type(b).__name__ for b in bodies) == {
        "SourceDescribed": 1, "SourceRevised": 1, "SourceRemoved": 2,
    }  # fmt: skip
    held = await held_items(log, blobs, CONNECTOR)
    revised = next(b for b in bodies if isinstance(b, SourceRevised))
    assert revised.source == held["FILE0005"].source
    assert {b.source for b in bodies if isinstance(b, SourceRemoved)} == {
        held["FILE0009"].source, held["FILE0011"].source,
    }  # fmt: skip
    files = [p for p, _, _ in zotero.requests if p.endswith("/file")]
    assert sorted(files) == [f"/{zotero.library}/items/FILE0003/file",
                             f"/{zotero.library}/items/FILE0005/file"]  # fmt: skip


async def test_a_429_is_waited_out(zotero, log, blobs):
    zotero.fail_next(429, times=2, retry_after="3")
    sleeps = Sleeps()
    report, _ = await run(zotero, log, blobs, None, sleeps=sleeps)
    assert report.added == 130 and sleeps == [3.0, 3.0]


async def test_a_wait_longer_than_allowed_stops_the_sync_clearly(zotero, log, blobs):
    zotero.fail_next(429, retry_after="86400")
    with pytest.raises(ConnectorUnavailable, match="asks to wait 86400 s"):
        await run(zotero, log, blobs, None)
    assert (await log.head()).rev == 0


async def test_a_revoked_key_is_a_clear_error_that_never_shows_the_key(zotero, log, blobs):
    with pytest.raises(CredentialRejected) as caught:
        await run(zotero, log, blobs, None, key="revoked-key-0000")
    assert "refused the credential (HTTP 403)" in str(caught.value)
    assert "revoked-key" not in str(caught.value) and zotero.api_key not in str(caught.value)


async def test_an_attachment_without_a_file_is_rejected_and_the_rest_come_in(zotero, log, blobs):
    del zotero.files["FILE0002"]
    report, bodies = await run(zotero, log, blobs, None)
    rejected = [b for b in bodies if isinstance(b, SourceRejected)]
    assert len(rejected) == 1 and "no file" in rejected[0].message
    assert report.added == 129 and report.rejected == 1


async def test_a_private_base_url_is_refused_unless_the_operator_allows_it(zotero, log, blobs):
    client = ServiceClient(zotero.base_url, service="Zotero", headers={"Zotero-API-Key": "k"})
    web = ZoteroWeb(client, zotero.library)
    try:
        with pytest.raises(ConnectorError, match="public address"):
            await sync(web, log, blobs, connector_id=CONNECTOR, actor="u", cursor=None)
    finally:
        await client.close()
    with pytest.raises(Invalid):
        ServiceClient("ftp://example.org", service="Zotero", headers={})
    with pytest.raises(Invalid):
        ZoteroWeb(client, "people/1")
