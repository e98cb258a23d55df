"""A chapter connected by signing in, in a real headless Chromium (Debian's, driven by
Playwright) against a real `ragstack serve` whose operator set up Google sign-in with
environment variables, pointed at a local server speaking Drive and its OAuth endpoints
(tests/fakes/drive_server.py; its authorize page answers as the person would, at once):

- "Connect with Google Drive" with a folder's address: the browser goes to the provider's page,
  comes back through the server's callback to the chapter, which says "Google Drive connected;
  the first sync is running", takes the outcome out of the address and syncs the connector's
  files (a subfolder's as a collection);
- the sign-in revoked at the provider: Sync now shows `sign-in refused`, and Reconnect signs in
  again, after which the same connector syncs again;
- a refused consent comes back to the chapter with "declined", a sign-in the server cannot place
  to the books page with its own message, and a service the operator has not set up is marked
  in the picker with its button off.

The connected panel is photographed (light and dark, laptop and phone) and checked with
axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.fakes.drive_server import FakeDrive
from tests.serve_support import ServeProcess, serving
from tests.web.browser import ScreenCheck
from tests.web.pages import PASSWORD, STEP_TIMEOUT_MS, AppPage, new_email

TEST_TIMEOUT_S = 120

pytestmark = pytest.mark.timeout(TEST_TIMEOUT_S)


@pytest.fixture(scope="module")
def drive() -> Iterator[FakeDrive]:
    with FakeDrive() as fake:
        fake.folder("LIB", "Thesis")
        fake.put("f1", "outline.txt", b"an outline of the orchard thesis", parent="LIB")
        fake.folder("SUB", "Field notes", parent="LIB")
        fake.put("f2", "bees.txt", b"bees visit the apple blossom", parent="SUB")
        fake.put("f3", "elsewhere.txt", b"not in the folder")
        yield fake


@pytest.fixture(scope="module")
def served(browser, drive: FakeDrive, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:  # fmt: skip
    # Only Google is set up: Dropbox and OneDrive are offered as "not set up on this server".
    google = {k: v for k, v in drive.settings("google")["google"].items() if k != "content_url"}
    env = {f"RAGSTACK_CONNECTORS_OAUTH_GOOGLE_{k.upper()}": v for k, v in google.items()}
    with serving(
        tmp_path_factory.mktemp("web-oauth"), RAGSTACK_WEB_ALLOW_PRIVATE_ADDRESSES="true",
        RAGSTACK_CONNECTORS_SYNC_INTERVAL_S="0", **env,
    ) as process:  # fmt: skip
        yield process


@pytest.fixture
def app(context: BrowserContext, served: ServeProcess) -> AppPage:
    return AppPage(context.new_page(), served.url)


def open_libraries(app: AppPage, title: str) -> Page:
    """Sign up, make a book and a chapter, open it on its Libraries tab."""
    app.sign_up(new_email(), PASSWORD)
    books = app.books()
    books.create("Orchard")
    book = books.open("Orchard")
    book.create_chapter(title)
    page = book.open_chapter(title).page
    page.get_by_role("tab", name="Libraries").click()
    expect(page.get_by_role("heading", name="Connected libraries")).to_be_visible()
    return page


def test_google_drive_is_connected_by_signing_in_synced_and_reconnected(
    app: AppPage, drive: FakeDrive, screens: ScreenCheck
) -> None:
    page = open_libraries(app, "Thesis")
    form = page.get_by_role("form", name="Connect a library")
    form.get_by_label("Kind").select_option(label="Google Drive")
    form.get_by_label("Folder").fill("https://drive.google.com/drive/folders/LIB?usp=sharing")
    form.get_by_role("button", name="Connect with Google Drive").click()

    # There and back: the provider's page, the server's callback, the chapter.
    notice = page.get_by_role("status").filter(has_text="Google Drive connected")
    expect(notice).to_have_text("Google Drive connected; the first sync is running.")
    assert re.search(r"/chapters/[^/?]+$", page.url), page.url  # the outcome left the address
    expect(page.get_by_role("tab", name="Libraries")).to_have_attribute("aria-selected", "true")
    row = page.get_by_role("list", name="Connected libraries").get_by_role("listitem").first
    expect(row).to_contain_text("folder LIB")
    expect(row).to_contain_text("2 added", timeout=STEP_TIMEOUT_MS)
    expect(row.locator("[data-status]")).to_have_text("synced")
    expect(row).to_contain_text("2 sources")
    expect(notice).to_be_visible()  # still "connected", after the sync it announced has run
    assert "do-not-leak" not in page.content()  # no token reaches the page
    screens.capture(page, "connectors-oauth")

    page.get_by_role("tab", name="Sources").click()
    sources = page.get_by_role("list", name="Sources").get_by_role("listitem")
    expect(sources.filter(has_text="bees.txt")).to_contain_text("Google Drive")
    expect(page.get_by_text("elsewhere.txt")).to_have_count(0)

    # The person revokes the app at Google: the next sync is refused, and Reconnect mends it.
    drive.oauth.revoke()
    drive.put("f4", "pollen.txt", b"pollen counts by week", parent="LIB")
    page.get_by_role("tab", name="Libraries").click()
    row.get_by_role("button", name="Sync now: Google Drive").click()
    expect(row.locator("[data-status]")).to_have_text("sign-in refused", timeout=STEP_TIMEOUT_MS)
    expect(row).to_contain_text("Sign in to Google Drive again with Reconnect")
    row.get_by_role("button", name="Reconnect Google Drive").click()
    expect(page.get_by_role("status").filter(has_text="reconnected")).to_have_text(
        "Google Drive reconnected; a sync is running."
    )
    expect(row).to_contain_text("1 added", timeout=STEP_TIMEOUT_MS)
    expect(row.locator("[data-status]")).to_have_text("synced")
    expect(row).to_contain_text("3 sources")
    connected = page.get_by_role("list", name="Connected libraries").get_by_role("listitem")
    expect(connected).to_have_count(1)


def test_a_refusal_an_unknown_sign_in_and_an_unset_service_are_explained(
    app: AppPage, drive: FakeDrive, served: ServeProcess
) -> None:
    page = open_libraries(app, "Refusals")
    form = page.get_by_role("form", name="Connect a library")
    # Dropbox: the operator has not set it up.
    form.get_by_label("Kind").select_option(label="Dropbox (not set up on this server)")
    expect(form.get_by_role("note")).to_contain_text("has not set up Dropbox sign-in")
    expect(form.get_by_role("button", name="Connect with Dropbox")).to_be_disabled()

    # The person refuses at Google's page.
    drive.oauth.consent = "deny"
    try:
        form.get_by_label("Kind").select_option(label="Google Drive")
        form.get_by_role("button", name="Connect with Google Drive").click()
        expect(page.get_by_role("alert").filter(has_text="declined")).to_be_visible()
    finally:
        drive.oauth.consent = "approve"
    assert "connector_error" not in page.url
    expect(page.get_by_text("No library is connected yet")).to_be_visible()

    # A callback whose state this server never issued names no chapter: the books page says so.
    page.goto(f"{served.url}/v1/connectors/oauth/callback?code=x&state=nosuchflow.secret")
    expect(app.heading("Books")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("not started by this server")
    assert page.url.endswith("/books"), page.url
