"""Page objects for sharing and history in the web app's browser tests (see pages.py): the share
dialog, the accept screen a share link opens, and a chapter's history, found by roles and labels."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from playwright.sync_api import Locator, Page, expect

from tests.web.pages import STEP_TIMEOUT_MS, AppPage


@dataclass
class ShareDialog:
    """The chapter's share dialog (opened by its Share button)."""

    app: AppPage

    @property
    def dialog(self) -> Locator:
        return self.app.page.get_by_role("dialog")

    def shares(self) -> Locator:
        return self.dialog.get_by_role("list", name="Shares in force")

    def grant(self, email: str, mode: str = "Live (direct)", may: tuple[str, ...] = ()) -> str:
        """Share with `email` in `mode` (a radio's label), allowing `may` (checkboxes' labels);
        the link shown once."""
        self.dialog.get_by_label(re.compile(re.escape(mode))).check()
        for permission in may:
            self.dialog.get_by_label(permission).check()
        self.dialog.get_by_label("Share with (e-mail)").fill(email)
        self.dialog.get_by_role("button", name="Share", exact=True).click()
        link = self.dialog.get_by_label("Share link")
        expect(link).to_be_visible(timeout=STEP_TIMEOUT_MS)
        expect(self.shares()).to_contain_text(email)
        return link.input_value()

    def revoke(self, email: str) -> None:
        """Revoke `email`'s share, confirming in the browser's dialog."""
        self.app.page.once("dialog", lambda confirm: confirm.accept())
        self.dialog.get_by_role("button", name=f"Revoke {email}'s share").click()
        expect(self.dialog.get_by_text(email)).to_have_count(0, timeout=STEP_TIMEOUT_MS)

    def close(self) -> None:
        self.dialog.get_by_role("button", name="Close").click()
        expect(self.dialog).to_be_hidden()


def open_share_dialog(app: AppPage) -> ShareDialog:
    app.page.get_by_role("button", name="Share", exact=True).click()
    share = ShareDialog(app)
    expect(share.dialog.get_by_role("heading", name="Share this chapter")).to_be_visible()
    return share


def accept_share(app: AppPage, link: str) -> Locator:
    """Open a share link signed in and accept it into the first book; the confirmation."""
    app.page.goto(link)
    expect(app.heading("Accept a shared chapter")).to_be_visible()
    assert "#" not in app.page.url, "the token must leave the address bar"
    app.page.get_by_role("button", name="Accept").click()
    done = app.page.get_by_role("status").filter(has_text="is now in your book")
    expect(done).to_be_visible(timeout=STEP_TIMEOUT_MS)
    return done


def wait_until_gone(page: Page, chapters: Locator, title: str, timeout_s: float = 30) -> None:
    """Reload the book until the chapter `title` has left it (a mirror whose share ended)."""
    deadline = time.monotonic() + timeout_s
    row = chapters.get_by_role("link", name=re.compile(re.escape(title)))
    while time.monotonic() < deadline:
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.get_by_text(re.compile("Loading chapters")).wait_for(state="hidden")
        if row.count() == 0:
            return
        page.wait_for_timeout(1000)
    raise AssertionError(f"{title!r} is still in the guest's book {timeout_s} s after revoking")


@dataclass
class HistoryScreen:
    """A chapter's history: timeline, a revision, verification."""

    app: AppPage

    @classmethod
    def open(cls, app: AppPage) -> HistoryScreen:
        app.page.get_by_role("link", name="History").click()
        expect(app.heading("History")).to_be_visible()
        return cls(app)

    def events(self) -> Locator:
        return self.app.page.get_by_role("list", name="Events, newest first")

    def verify(self) -> Locator:
        """Run Verify; the verdict."""
        self.app.page.get_by_role("button", name="Verify").click()
        verdict = self.app.page.get_by_role("status").filter(has_text=re.compile("Verif"))
        expect(verdict).to_be_visible(timeout=STEP_TIMEOUT_MS)
        return verdict

    def open_revision(self, rev: int) -> Locator:
        """The chapter as it was at `rev`: its panel."""
        self.events().get_by_role("button", name=f"See the chapter at rev {rev}").click()
        panel = self.app.page.get_by_role("region", name=f"At rev {rev}")
        expect(panel).to_be_visible()
        expect(panel.get_by_text(re.compile("Folding the log"))).to_have_count(
            0, timeout=STEP_TIMEOUT_MS
        )
        return panel
