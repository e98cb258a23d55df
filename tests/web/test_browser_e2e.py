"""The web app end to end in a real headless Chromium (Debian's, driven by Playwright) against a
real `ragstack serve` this module starts: sign up, make a book and a chapter, upload a PDF and a
Word document, see them extracted, ask, open a citation's passage; a rejected upload shows its
reason, a failed request offers a retry, an ended session returns to the sign-in screen; a chapter
shared with a second person (another browser context) is in their book until it is revoked, and
its history shows the share, verifies, and shows an earlier revision.

Along the way every main screen is photographed (light and dark, laptop and phone widths) into
the folder the run prints (RAGSTACK_SCREENSHOTS_DIR, else under pytest's temporary directory)
and checked with axe-core: no serious or critical violation.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Route, expect

from tests.projections.formats.corpus import make_docx, make_pdf
from tests.serve_support import ServeProcess
from tests.web.browser import ScreenCheck, new_context
from tests.web.pages import PASSWORD, STEP_TIMEOUT_MS, AppPage, File, new_email
from tests.web.share_pages import HistoryScreen, accept_share, open_share_dialog, wait_until_gone

VOYAGER = "Voyager 2 flew past Neptune in August 1989 and found the Great Dark Spot."
CASSINI = "Cassini orbited Saturn for thirteen years and dove between the rings in 2017."
SHORT_SESSION_S = 6  # long enough for the books screen to load on a busy machine
TEST_TIMEOUT_S = 120  # each test; the module as a whole stays under about two minutes

pytestmark = pytest.mark.timeout(TEST_TIMEOUT_S)


@pytest.fixture
def app(context: BrowserContext, served: ServeProcess) -> AppPage:
    return AppPage(context.new_page(), served.url)


def test_the_journey_from_sign_up_to_a_cited_passage(app: AppPage, screens: ScreenCheck) -> None:
    app.goto("/signin")
    expect(app.heading("Sign in")).to_be_visible()
    screens.capture(app.page, "signin")

    app.sign_up(new_email(), PASSWORD, name="Ada")
    books = app.books()
    books.create("Space")
    screens.capture(app.page, "books")

    book = books.open("Space")
    expect(book.app.page.get_by_text("No chapters yet")).to_be_visible()
    book.create_chapter("Probes")
    screens.capture(app.page, "book")

    chapter = book.open_chapter("Probes")
    expect(chapter.page.get_by_text("No sources yet")).to_be_visible()
    pdf = File("voyager.pdf", "application/pdf", make_pdf([["Mission notes."], [VOYAGER]]))
    word = File(
        "cassini.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        make_docx(heading="Saturn", sentence=CASSINI),
    )
    chapter.upload(pdf, word)
    for name in ("voyager.pdf", "cassini.docx"):
        chapter.expect_status(name, "extracted")

    chapter.ask("What did Voyager 2 find at Neptune?")
    screens.capture(app.page, "chapter")

    passage = chapter.open_citation(1)
    expect(passage.get_by_role("heading", name="voyager.pdf")).to_be_visible()
    expect(passage.locator("mark")).to_contain_text("Great Dark Spot")
    expect(passage).to_contain_text("page 2")
    expect(passage.get_by_role("link", name="Original")).to_be_visible()
    screens.capture(app.page, "passage")
    chapter.close_dialog()

    # A source's own text opens from its name too (no citation needed).
    expect(chapter.open_source("cassini.docx")).to_contain_text(CASSINI)
    chapter.close_dialog()


def test_a_rejected_upload_shows_its_reason(app: AppPage) -> None:
    app.sign_up(new_email(), PASSWORD)
    books = app.books()
    books.create("Scans")
    book = books.open("Scans")
    book.create_chapter("Photos")
    chapter = book.open_chapter("Photos")

    # A PNG: accepted, then rejected by extraction, which says why.
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
    chapter.upload(File("photo.png", "image/png", png))
    row = chapter.expect_status("photo.png", "rejected")
    expect(row).to_contain_text("images are not supported")
    # A rejected source has no text to open: its name is plain text, not a button.
    expect(row.get_by_role("button", name="photo.png", exact=True)).to_have_count(0)


def test_a_failed_request_shows_a_retry_not_a_blank_page(app: AppPage) -> None:
    app.sign_up(new_email(), PASSWORD)

    # The books list answers 503 (a proxy in front of the server, say) until the route is lifted.
    def unavailable(route: Route) -> None:
        route.fulfill(
            status=503,
            content_type="application/json",
            body='{"error": {"code": "unavailable", "message": "The server is busy: try again."}}',
        )

    app.page.route(re.compile(r".*/v1/books$"), unavailable)
    app.goto("/books")
    expect(app.heading("Books")).to_be_visible()
    expect(app.alert()).to_contain_text("The server is busy: try again.")
    retry = app.alert().get_by_role("button", name="Retry")
    expect(retry).to_be_visible()

    app.page.unroute(re.compile(r".*/v1/books$"))
    retry.click()
    expect(app.page.get_by_role("list", name="Your books")).to_be_visible()
    expect(app.alert()).to_have_count(0)

    # The network itself failing (the connection refused) is said in words, with a retry too.
    app.page.route(re.compile(r".*/v1/chapters/[^/]+$"), lambda route: route.abort())
    app.goto("/chapters/01jzzzzzzzzzzzzzzzzzzzzzzz")
    expect(app.alert()).to_contain_text("could not be reached", timeout=STEP_TIMEOUT_MS)
    expect(app.alert().get_by_role("button", name="Retry")).to_be_visible()


def test_an_ended_session_returns_to_the_sign_in_screen(
    app: AppPage, served: ServeProcess, screens: ScreenCheck
) -> None:
    email = new_email()
    app.sign_up(email, PASSWORD)
    app.books()
    session = app.session()

    # The session's token ends on the server (revoked from the CLI's token, as a person would
    # end a lost laptop's session): the page's next request finds it gone.
    login = httpx.post(
        f"{served.url}/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    login.raise_for_status()
    revoked = httpx.delete(
        f"{served.url}/v1/auth/tokens/{session['token_id']}",
        headers={"Authorization": f"Bearer {login.json()['token']}"},
        timeout=30,
    )
    assert revoked.status_code == 204, revoked.text

    app.page.get_by_label("New book").fill("After the end")
    app.page.get_by_role("button", name="Create book").click()
    expect(app.heading("Sign in")).to_be_visible()
    expect(app.page.get_by_role("status")).to_contain_text("Your session has expired")
    assert "next=%2Fbooks" in app.page.url
    screens.capture(app.page, "signin-expired")

    # Signing in again returns to where the person was.
    app.sign_in(email, PASSWORD)
    expect(app.heading("Books")).to_be_visible()
    assert app.page.url.endswith("/books")


def test_a_session_past_its_lifetime_returns_to_the_sign_in_screen(
    app: AppPage, context: BrowserContext
) -> None:
    # A session of a few seconds (the sign-up route takes a lifetime): the browser drops its
    # cookie when the lifetime ends, and the next request is refused for want of a session.
    made = context.request.post(
        f"{app.base}/v1/auth/session/signup",
        data={"email": new_email(), "password": PASSWORD, "ttl_s": SHORT_SESSION_S},
    )
    assert made.ok, made.text()
    app.books()  # the app finds the session by its cookie alone
    expect(app.page.get_by_role("button", name="Sign out")).to_be_visible()
    ends_in_s = made.json()["expires_at"] / 1000 - time.time()
    app.page.wait_for_timeout(max(0.0, ends_in_s + 0.5) * 1000)
    app.page.get_by_label("New book").fill("Too late")
    app.page.get_by_role("button", name="Create book").click()
    expect(app.heading("Sign in")).to_be_visible()
    assert "next=%2Fbooks" in app.page.url


@pytest.mark.timeout(2 * TEST_TIMEOUT_S)  # two people, an extraction, a mirror coming and going
def test_share_the_guest_sees_it_revoke_it_is_gone_and_history_shows_earlier_revisions(
    browser: Browser, served: ServeProcess, screens: ScreenCheck
) -> None:
    owner_context = new_context(browser)
    guest_context = new_context(browser)  # another person
    try:
        owner = AppPage(owner_context.new_page(), served.url)
        guest = AppPage(guest_context.new_page(), served.url)
        guest_email = new_email()
        guest.sign_up(guest_email, PASSWORD)

        owner.sign_up(new_email(), PASSWORD)
        books = owner.books()
        books.create("Lab")
        book = books.open("Lab")
        book.create_chapter("Shared notes")
        chapter = book.open_chapter("Shared notes")
        chapter.upload(File("neptune.txt", "text/plain", VOYAGER.encode()))
        chapter.expect_status("neptune.txt", "extracted")

        share = open_share_dialog(owner)
        # The book is on the free plan: a proxied share would refresh every ten minutes.
        expect(share.dialog).to_contain_text("every 10 minutes")
        link = share.grant(guest_email, "Live (direct)", may=("Add sources",))
        assert "/accept#token=" in link and "?" not in link  # the token never in a query string
        screens.capture(owner.page, "share-dialog")
        share.close()

        # The guest accepts the link into their book; the chapter is there, marked shared.
        accept_share(guest, link)
        guest.page.get_by_role("link", name="Go to the book").click()
        chapters = guest.page.get_by_role("list", name="Chapters")
        mirror = chapters.get_by_role("link", name=re.compile("Shared notes"))
        expect(mirror).to_contain_text("shared · live")
        screens.capture(guest.page, "guest-book")
        mirror.click()
        expect(guest.heading("Shared notes")).to_be_visible()
        expect(guest.page.get_by_role("list", name="Sources")).to_contain_text(
            "neptune.txt", timeout=STEP_TIMEOUT_MS
        )
        guest.page.go_back()

        # Revoked: the guest's mirror leaves their book.
        share = open_share_dialog(owner)
        share.revoke(guest_email)
        expect(share.dialog).to_contain_text("Nobody yet.")
        share.close()
        wait_until_gone(guest.page, chapters, "Shared notes")

        # History: grant and revoke are events with their actor; verify; an earlier revision.
        history = HistoryScreen.open(owner)
        expect(history.events()).to_contain_text(f"shared with {guest_email}")
        expect(history.events()).to_contain_text("revoked share")
        expect(history.events()).to_contain_text("you")
        verdict = history.verify()
        expect(verdict).to_contain_text("Verified")
        expect(verdict).to_contain_text("recomputed from the stored bytes")
        first = history.open_revision(1)
        expect(first).to_contain_text("No sources at this revision")
        first.get_by_role("button", name="Compare").click()
        expect(first).to_contain_text("Rev 0")
        screens.capture(owner.page, "history")
        latest = history.open_revision(
            int(history.events().get_by_role("button").first.inner_text())
        )
        expect(latest).to_contain_text("neptune.txt")
    finally:
        owner_context.close()
        guest_context.close()
