"""A chapter's connected libraries in a real headless Chromium (Debian's, driven by Playwright)
against a real `ragstack serve` this module starts, whose operator setting lets it reach the
test's Zotero (a local server speaking the Web API, tests/fakes/zotero_server.py) on loopback:

- a Zotero Web API library connected from the Libraries tab (the key written once, never shown
  back), synced with "Sync now", its sources listed with their cite ("Smith et al. (2020)") and
  origin, an answer's citation and its passage naming the work, and a source's page showing its
  reference (title, authors, year, DOI link, ref,
  collection and item type);
- a refused key shows `key refused` and the service's message on the connector, and a folder
  the server may not read is refused in place with the server's 422 message.

Each screen is photographed (light and dark, laptop and phone) into the folder the other
browser modules use, and checked with axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.connectors.zotero_support import pdf_bytes
from tests.fakes.zotero_server import FakeZotero
from tests.serve_support import ServeProcess, serving
from tests.web.browser import ScreenCheck
from tests.web.pages import PASSWORD, STEP_TIMEOUT_MS, AppPage, ChapterScreen, new_email
from tests.web.pages_admin import accept_confirms

TEST_TIMEOUT_S = 120

pytestmark = pytest.mark.timeout(TEST_TIMEOUT_S)


@pytest.fixture(scope="module")
def served(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    # The operator's setting, as for a self-hosted service on the LAN: users' addresses never
    # lift the private-address rule themselves.
    with serving(
        tmp_path_factory.mktemp("web-connectors"),
        RAGSTACK_WEB_ALLOW_PRIVATE_ADDRESSES="true",
        RAGSTACK_CONNECTORS_SYNC_INTERVAL_S="0",
    ) as process:
        yield process


@pytest.fixture(scope="module")
def zotero() -> Iterator[FakeZotero]:
    with FakeZotero() as fake:
        fake.collection("COLLTHES", "Thesis")
        fake.put("PAPERAAA", itemType="journalArticle", title="Rivers of Copper", date="2020-03-01",
                 DOI="10.1000/river", collections=["COLLTHES"], tags=[{"tag": "metallurgy"}],
                 creators=[{"creatorType": "author", "firstName": f, "lastName": last}
                           for f, last in (("Ada", "Smith"), ("Ben", "Jones"), ("Cy", "Brown"))])  # fmt: skip
        fake.attach("FILEAAAA", "PAPERAAA", "smith2020.pdf",
                    pdf_bytes("copper rivers carry ore to the harbour"))  # fmt: skip
        fake.put("PAPERBBB", itemType="book", title="Meadow Signals", date="1999",
                 creators=[{"creatorType": "author", "firstName": "Ben", "lastName": "Jones"}])  # fmt: skip
        fake.attach("FILEBBBB", "PAPERBBB", "jones.pdf", pdf_bytes("lanterns across the meadow"))
        yield fake


@pytest.fixture
def app(context: BrowserContext, served: ServeProcess) -> AppPage:
    page = context.new_page()
    accept_confirms(page)
    return AppPage(page, served.url)


def open_libraries(app: AppPage) -> ChapterScreen:
    """Sign up, make a book and a chapter, open it on its Libraries tab."""
    app.sign_up(new_email(), PASSWORD)
    books = app.books()
    books.create("Reading")
    book = books.open("Reading")
    book.create_chapter("Thesis")
    chapter = book.open_chapter("Thesis")
    chapter.page.get_by_role("tab", name="Libraries").click()
    expect(chapter.page.get_by_role("heading", name="Connected libraries")).to_be_visible()
    return chapter


def connect_zotero(page: Page, zotero: FakeZotero, key: str) -> None:
    form = page.get_by_role("form", name="Connect a library")
    form.get_by_label("Kind").select_option(label="Zotero (Web API)")
    form.get_by_label("Library").fill(zotero.library)
    form.get_by_label("API key").fill(key)
    form.get_by_label("Server address").fill(zotero.base_url)
    form.get_by_role("button", name="Connect").click()
    expect(form.get_by_role("status")).to_contain_text("Connected")
    # Write-only: the field is emptied, and the key is nowhere on the page.
    expect(form.get_by_label("API key")).to_have_value("")
    assert key not in page.content()


def test_a_zotero_library_is_connected_synced_and_its_sources_cited(
    app: AppPage, zotero: FakeZotero, screens: ScreenCheck
) -> None:
    chapter = open_libraries(app)
    page = chapter.page
    expect(page.get_by_text("No library is connected yet")).to_be_visible()
    connect_zotero(page, zotero, zotero.api_key)
    row = page.get_by_role("list", name="Connected libraries").get_by_role("listitem").first
    expect(row).to_contain_text("not synced yet")
    expect(row).to_contain_text(zotero.library)

    row.get_by_role("button", name="Sync now: Zotero (Web API)").click()
    expect(row).to_contain_text("synced", timeout=STEP_TIMEOUT_MS)
    expect(row).to_contain_text("2 added", timeout=STEP_TIMEOUT_MS)
    expect(row).to_contain_text("2 sources")
    screens.capture(page, "connectors")

    page.get_by_role("tab", name="Sources").click()
    paper = chapter.source("smith2020.pdf")
    expect(paper).to_contain_text("Smith et al. (2020)")
    expect(paper).to_contain_text("Zotero")
    expect(chapter.source("jones.pdf")).to_contain_text("Jones (1999)")
    chapter.expect_status("smith2020.pdf", "extracted")
    chapter.expect_status("jones.pdf", "extracted")
    screens.capture(page, "sources-cited")
    # The answer's citation mark names the work, and so does the passage it opens.
    chapter.ask("Where do copper rivers carry ore?")
    expect(chapter.citations(1).last).to_have_attribute(
        "title", re.compile(r"Smith et al\. \(2020\)")
    )
    expect(chapter.open_citation(1)).to_contain_text("Smith et al. (2020)")
    chapter.close_dialog()

    paper.get_by_role("link", name="Details of smith2020.pdf").click()
    reference = page.get_by_role("region", name=re.compile("Reference from Zotero"))
    expect(reference).to_contain_text("Rivers of Copper")
    expect(reference).to_contain_text("Smith, Ada; Jones, Ben; Brown, Cy")
    expect(reference).to_contain_text("FILEAAAA")  # its ref in the library: the attachment's key
    doi = reference.get_by_role("link", name="10.1000/river")
    expect(doi).to_have_attribute("href", "https://doi.org/10.1000/river")
    expect(doi).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(reference.get_by_role("list", name="Collections")).to_contain_text("/Thesis")
    expect(reference.get_by_role("list", name="Item type")).to_contain_text("journalArticle")
    screens.capture(page, "source-reference")


def test_a_refused_key_and_a_refused_folder_are_shown_in_place(
    app: AppPage, zotero: FakeZotero, screens: ScreenCheck
) -> None:
    chapter = open_libraries(app)
    page = chapter.page
    connect_zotero(page, zotero, "not-the-key-0000")
    row = page.get_by_role("list", name="Connected libraries").get_by_role("listitem").first
    row.get_by_role("button", name="Sync now: Zotero (Web API)").click()
    expect(row).to_contain_text("key refused", timeout=STEP_TIMEOUT_MS)
    expect(row.get_by_role("alert")).to_contain_text("refused the credential")
    # The same panel as "connectors", checked there: photographed only, to keep the module short.
    screens.capture(page, "connectors-refused", accessibility=False)

    # A folder this server may not read (it has no [connectors] local_root): the 422, in place.
    form = page.get_by_role("form", name="Connect a library")
    form.get_by_label("Kind").select_option(label="Obsidian vault (on the server)")
    form.get_by_label("Folder").fill("Vault")
    form.get_by_role("button", name="Connect").click()
    expect(form.get_by_role("alert")).to_contain_text("reads no folder itself")

    row.get_by_role("button", name="Remove Zotero (Web API)").click()
    expect(page.get_by_text("No library is connected yet")).to_be_visible()
