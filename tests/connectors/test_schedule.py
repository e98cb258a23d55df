"""The worker syncs connectors on a schedule (`[connectors] sync_interval_s`), with no request."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app import connectors
from app.services import open_services
from app.settings import load_settings
from tests.accounts_support import fast_passwords
from tests.connectors.zotero_support import pdf_bytes
from tests.fakes.zotero_server import FakeZotero
from tests.projections.pipeline_support import new_chapter


async def test_the_worker_syncs_a_connector_on_its_schedule(tmp_path: Path, local_embedder):
    settings = load_settings(
        environ={}, data_dir=str(tmp_path / "data"), llm={"kind": "extractive"},
        web={"allow_private_addresses": True}, connectors={"sync_interval_s": 0.5},
    )  # fmt: skip
    passwords = fast_passwords()
    services = await open_services(settings, passwords=passwords, embedder=local_embedder)
    try:
        with FakeZotero() as zotero:
            zotero.put("PAPERAAA", itemType="book", title="Ledger", date="1900")
            zotero.attach("FILEAAAA", "PAPERAAA", "ledger.pdf", pdf_bytes("ledger lines"))
            chapter = await new_chapter(services.books)
            made = await connectors.configure(
                services, chapter, actor="u-owner", kind="zotero", library=zotero.library,
                api_key=zotero.api_key, base_url=zotero.base_url,
            )  # fmt: skip
            async with asyncio.timeout(60):
                while (view := await connectors.read(services, chapter, made.id)).status != "ok":
                    await asyncio.sleep(0.1)
            assert view.report is not None and view.report.added == 1
            events = [r.envelope async for r in services.logs.chapter(chapter).read()]
            added = [e for e in events if type(e.body).__name__ == "SourceAdded"]
            assert [e.actor for e in added] == [connectors.SCHEDULER_ACTOR]
    finally:
        await services.close()
        passwords.close()
