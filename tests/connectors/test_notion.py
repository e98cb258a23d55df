"""The Notion connector against a local server speaking Notion's API (search, block children)."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.connectors import CredentialRejected
from engine.connectors.http import ServiceClient
from engine.connectors.notion import NOTION_VERSION, Notion
from engine.connectors.sync import held_items
from events import SourceAdded, SourceRemoved
from tests.connectors.connector_support import Sleeps, sync_opened
from tests.fakes.notion_server import FakeNotion

CONNECTOR = "c-notion"


@pytest.fixture
def notion():
    with FakeNotion() as fake:
        for n in range(120):  # more than one page of 100
            fake.page(f"page-{n:03d}", f"Meeting {n}", [f"we discussed the orchard {n}"],
                      tags=["meetings"])  # fmt: skip
        yield fake


async def run(fake, log, blobs, cursor, *, token=None, sleeps=None):
    client = ServiceClient(
        fake.base_url, service="Notion", allow_private=True,
        sleep=sleeps if sleeps is not None else Sleeps(),
        headers={"Authorization": f"Bearer {token or fake.token}", "Notion-Version": NOTION_VERSION},
    )  # fmt: skip
    return await sync_opened(
        client, lambda known: Notion(client).with_known(known), log, blobs, CONNECTOR, cursor
    )


async def test_a_full_then_incremental_sync_of_the_shared_pages(notion, log, blobs):
    report, bodies = await run(notion, log, blobs, None)
    assert report.added == 120 and len(bodies) == 120
    page = next(b for b in bodies if isinstance(b, SourceAdded) and b.ref == "page-007")
    assert page.origin == "notion" and page.name == "Meeting 7.md"
    assert page.tags == ["meetings", "type:page"] and page.meta.year == 2026
    assert (await blobs.get(page.blob)).decode() == "# Meeting 7\n\nwe discussed the orchard 7\n"

    notion.requests.clear()
    again, bodies = await run(notion, log, blobs, report.cursor)
    assert bodies == []
    assert sum(1 for _, p in notion.requests if p.endswith("/children")) == 1  # the newest only

    notion.page("page-003", "Meeting 3", ["we discussed the orchard and the meadow"])
    del notion.pages["page-009"]
    report, bodies = await run(notion, log, blobs, again.cursor)
    assert Counter(type(b).__name__ for b in bodies) == {
        "SourceRevised": 1, "SourceRetagged": 1, "SourceRemoved": 1,
    }  # fmt: skip
    held = await held_items(log, blobs, CONNECTOR)
    assert next(b for b in bodies if isinstance(b, SourceRemoved)).source == held["page-009"].source


async def test_a_429_is_waited_out_and_a_revoked_token_is_clear(notion, log, blobs):
    notion.fail_next(429, retry_after="4")
    sleeps = Sleeps()
    report, _ = await run(notion, log, blobs, None, sleeps=sleeps)
    assert report.added == 120 and sleeps == [4.0]
    with pytest.raises(CredentialRejected, match="Notion refused the credential"):
        await run(notion, log, blobs, None, token="secret_revoked")
