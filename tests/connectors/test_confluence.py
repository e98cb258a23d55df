"""The Confluence connector against a local server speaking Confluence's REST API (CQL search)."""

from __future__ import annotations

import base64
from collections import Counter

import pytest

from engine.connectors import CredentialRejected
from engine.connectors.confluence import Confluence
from engine.connectors.http import ServiceClient
from engine.connectors.sync import held_items
from engine.rules import Invalid
from events import SourceAdded, SourceRemoved
from tests.connectors.connector_support import Sleeps, sync_opened
from tests.fakes.confluence_server import FakeConfluence

CONNECTOR = "c-conf"


@pytest.fixture
def confluence():
    with FakeConfluence() as fake:
        for n in range(60):  # more than one page of 50
            fake.page(f"{1000 + n}", "ENG", f"Runbook {n}", f"<p>restart the beacon {n}</p>",
                      labels=["ops"], ancestors=["Handbook", "Runbooks"])  # fmt: skip
        fake.page("2000", "HR", "Holidays", "<p>not ours</p>")
        yield fake


async def run(fake, log, blobs, cursor, *, token=None, sleeps=None):
    auth = base64.b64encode(f"{fake.email}:{token or fake.token}".encode()).decode()
    client = ServiceClient(fake.base_url, service="Confluence", allow_private=True,
                           headers={"Authorization": f"Basic {auth}"}, sleep=sleeps if sleeps is not None else Sleeps())  # fmt: skip
    return await sync_opened(
        client, lambda known: Confluence(client, "ENG").with_known(known), log, blobs, CONNECTOR,
        cursor,
    )  # fmt: skip


async def test_a_full_then_incremental_sync_of_a_space(confluence, log, blobs):
    report, bodies = await run(confluence, log, blobs, None)
    assert report.added == 60 and len(bodies) == 60
    page = next(b for b in bodies if isinstance(b, SourceAdded) and b.ref == "1007")
    assert page.origin == "confluence" and page.name == "Runbook 7.html"
    assert page.tags == ["collection:/Handbook/Runbooks", "ops", "space:ENG", "type:page"]
    assert page.meta.cite() == "Ada Smith (2026)"
    assert b"restart the beacon 7" in await blobs.get(page.blob)

    again, bodies = await run(confluence, log, blobs, report.cursor)
    assert bodies == [] and again.listed <= 1  # only the newest minute is listed again

    confluence.page("1003", "ENG", "Runbook 3", "<p>restart the beacon twice</p>", labels=["ops"],
                    ancestors=["Handbook", "Runbooks"])  # fmt: skip
    del confluence.pages["1009"]
    report, bodies = await run(confluence, log, blobs, again.cursor)
    assert Counter(type(b).__name__ for b in bodies) == {"SourceRevised": 1, "SourceRemoved": 1}
    held = await held_items(log, blobs, CONNECTOR)
    assert next(b for b in bodies if isinstance(b, SourceRemoved)).source == held["1009"].source
    assert any('lastmodified >= "' in q.get("cql", "") for q in confluence.requests)


async def test_a_429_is_waited_out_and_a_revoked_token_is_clear(confluence, log, blobs):
    confluence.fail_next(429, retry_after="2")
    sleeps = Sleeps()
    report, _ = await run(confluence, log, blobs, None, sleeps=sleeps)
    assert report.added == 60 and sleeps == [2.0]
    with pytest.raises(CredentialRejected, match="Confluence refused the credential"):
        await run(confluence, log, blobs, None, token="revoked")


def test_a_space_key_that_could_break_the_query_is_refused():
    with pytest.raises(Invalid):
        Confluence(None, 'ENG" or space = "HR')  # type: ignore[arg-type]
