"""Page objects for the web app's browser tests: what a person does on each screen, found by the
roles and labels assistive technology reads (never CSS classes), so a restyle breaks no test and
a control without an accessible name cannot be driven at all.

A new screen adds its steps here as a small class over `AppPage` (e.g. a `ShareDialog` with
`grant(email, mode)` and `revoke(email)`, a `HistoryScreen` with `open_revision(rev)`), and the
journey in test_browser_e2e.py calls them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from playwright.sync_api import Locator, Page, expect

STEP_TIMEOUT_MS = 30_000
"""The longest one step may take on a loaded 2-core machine (extraction, an answer)."""
PASSWORD = "correct horse battery"
"""Every test account's password (accounts differ by their e-mail)."""


def new_email() -> str:
    """An e-mail no other test of the run signs up with."""
    return f"user-{secrets.token_hex(4)}@example.com"


@dataclass
class File:
    """A file a person picks in the file chooser."""

    name: str
    mime: str
    data: bytes

    def payload(self) -> dict[str, str | bytes]:
        return {"name": self.name, "mimeType": self.mime, "buffer": self.data}


@dataclass
class AppPage:
    """The app in one browser tab, at the server `base` (http://127.0.0.1:PORT)."""

    page: Page
    base: str

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def heading(self, name: str | re.Pattern[str]) -> Locator:
        return self.page.get_by_role("heading", name=name, level=1)

    def alert(self) -> Locator:
        return self.page.get_by_role("alert")

    # --- signing in ---

    def sign_up(self, email: str, password: str, name: str = "") -> None:
        self.goto("/signup")
        expect(self.heading("Create an account")).to_be_visible()
        if name:
            self.page.get_by_label("Name").fill(name)
        self.page.get_by_label("E-mail").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Create an account").click()
        expect(self.heading("Books")).to_be_visible(timeout=STEP_TIMEOUT_MS)

    def sign_in(self, email: str, password: str) -> None:
        if "/signin" not in self.page.url:
            self.goto("/signin")
        self.page.get_by_label("E-mail").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible(
            timeout=STEP_TIMEOUT_MS
        )

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        expect(self.heading("Sign in")).to_be_visible()

    def session(self) -> dict[str, object]:
        """GET /v1/auth/session from the page (its cookie): the session's token id and user."""
        answer: dict[str, object] = self.page.evaluate(
            "async () => (await fetch('/v1/auth/session')).json()"
        )
        return answer

    # --- books and chapters ---

    def books(self) -> BooksScreen:
        self.goto("/books")
        expect(self.heading("Books")).to_be_visible()
        return BooksScreen(self)


@dataclass
class BooksScreen:
    app: AppPage

    def list(self) -> Locator:
        return self.app.page.get_by_role("list", name="Your books")

    def create(self, name: str) -> None:
        self.app.page.get_by_label("New book").fill(name)
        self.app.page.get_by_role("button", name="Create book").click()
        expect(self.list().get_by_role("link", name=re.compile(re.escape(name)))).to_be_visible()

    def open(self, name: str) -> BookScreen:
        self.list().get_by_role("link", name=re.compile(re.escape(name))).click()
        expect(self.app.heading(name)).to_be_visible()
        return BookScreen(self.app)


@dataclass
class BookScreen:
    app: AppPage

    def chapters(self) -> Locator:
        return self.app.page.get_by_role("list", name="Chapters")

    def create_chapter(self, title: str) -> None:
        self.app.page.get_by_label("New chapter").fill(title)
        self.app.page.get_by_role("button", name="Create chapter").click()
        expect(
            self.chapters().get_by_role("link", name=re.compile(re.escape(title)))
        ).to_be_visible()

    def open_chapter(self, title: str) -> ChapterScreen:
        self.chapters().get_by_role("link", name=re.compile(re.escape(title))).click()
        expect(self.app.heading(title)).to_be_visible(timeout=STEP_TIMEOUT_MS)
        return ChapterScreen(self.app)


@dataclass
class ChapterScreen:
    """A chapter: sources (upload, live status) beside the chat; citations open passages."""

    app: AppPage

    @property
    def page(self) -> Page:
        return self.app.page

    def sources(self) -> Locator:
        return self.page.get_by_role("list", name="Sources")

    def source(self, name: str) -> Locator:
        """The row of the source named `name`."""
        return self.sources().get_by_role("listitem").filter(has_text=name)

    def upload(self, *files: File) -> None:
        """Pick `files` with the "Choose files" button's file chooser, as a person would."""
        with self.page.expect_file_chooser() as chooser:
            self.page.get_by_role("button", name="Choose files").click()
        chooser.value.set_files([f.payload() for f in files])  # type: ignore[misc]

    def expect_status(self, name: str, status: str) -> Locator:
        """Wait until the source `name` shows `status` (pending → extracted or rejected)."""
        row = self.source(name)
        expect(row).to_contain_text(status, timeout=STEP_TIMEOUT_MS)
        return row

    def ask(self, question: str) -> None:
        """Ask in the chat and wait until the answer has streamed in with its citations."""
        before = self.citations(1).count()
        self.page.get_by_label("Your question").fill(question)
        self.page.get_by_role("button", name="Ask").click()
        expect(self.citations(1)).to_have_count(before + 1, timeout=STEP_TIMEOUT_MS)

    def citations(self, n: int) -> Locator:
        """Every answer's citation mark `n` on the page, oldest answer first."""
        return self.page.get_by_role("button", name=re.compile(rf"^Citation {n}: "))

    def open_citation(self, n: int = 1) -> Locator:
        """Click citation `n` of the latest answer; the passage dialog it opens."""
        self.citations(n).last.click()
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        return dialog

    def open_source(self, name: str) -> Locator:
        """Open the text of the extracted source `name` from its row; the dialog showing it."""
        self.source(name).get_by_role("button", name=name, exact=True).click()
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        return dialog

    def close_dialog(self) -> None:
        self.page.get_by_role("dialog").get_by_role("button", name="Close").click()
        expect(self.page.get_by_role("dialog")).to_be_hidden()
