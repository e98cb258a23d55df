"""Page objects for the web app's administration and source screens: API tokens, a book's
settings (members, sharing policy, LLM), the admin view of all chapters, one source's detail and
the chat's threads. Like tests/web/pages.py they find everything by role and accessible name.

Kept apart from pages.py so that the screens other helpers add (sharing, history) and these do
not edit the same file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.web.pages import STEP_TIMEOUT_MS, AppPage


def accept_confirms(page: Page) -> None:
    """Say OK to every `window.confirm` the page asks (revoke, delete, policy off): Playwright
    would otherwise dismiss them, and the action would silently not happen."""
    page.on("dialog", lambda dialog: dialog.accept())


def watch(control: Locator, prop: str) -> None:
    """Start noting every value `control`'s DOM property `prop` shows, one sample per frame (what
    a person could see), until `seen` is called."""
    control.evaluate(
        """(el, prop) => {
            el.__seen = [];
            el.__stop = false;
            const tick = () => {
                const v = String(el[prop]);
                if (el.__seen[el.__seen.length - 1] !== v) el.__seen.push(v);
                if (!el.__stop) requestAnimationFrame(tick);
            };
            tick();
        }""",
        prop,
    )


def seen(control: Locator) -> list[str]:
    """The values `watch` noted, in order, each change once; stops watching."""
    values: list[str] = control.evaluate("el => { el.__stop = true; return el.__seen; }")
    return values


def settle(page: Page) -> None:
    """Wait until the page has made no request for a while (a save and the reads it causes)."""
    page.wait_for_load_state("networkidle")


def tab_to(page: Page, target: Locator, most: int = 40) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would reach it; fails when it
    is not reached in `most` presses, or when the focus it gets is not visible (no outline or
    ring drawn)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            ring = target.evaluate(
                """el => { const s = getComputedStyle(el);
                           return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
                                  || s.boxShadow !== 'none'; }"""
            )
            assert ring, "the focus on the control is not visible"
            return
    raise AssertionError(f"{target} was not reached with {most} presses of Tab")


def last_path_part(page: Page) -> str:
    """The id at the end of the page's path (a book's, a chapter's, a source's)."""
    return page.url.split("?")[0].rstrip("/").split("/")[-1]


@dataclass
class TokensScreen:
    app: AppPage

    @classmethod
    def open(cls, app: AppPage) -> TokensScreen:
        # From the header's link, as a person would reach it.
        app.page.get_by_role("link", name="API tokens").click()
        expect(app.heading("API tokens")).to_be_visible()
        return cls(app)

    def tokens(self) -> Locator:
        return self.app.page.get_by_role("list", name="Your API tokens")

    def create(self, name: str) -> str:
        """Make a token named `name`; the token itself, read from where it is shown once."""
        page = self.app.page
        page.get_by_label("Token name").fill(name)
        page.get_by_role("button", name="Create token").click()
        shown = page.get_by_role("region", name="Your new token")
        expect(shown).to_be_visible()
        token = shown.get_by_label("The new token").input_value()
        expect(self.tokens().get_by_role("listitem").filter(has_text=name)).to_be_visible()
        return token

    def dismiss_new(self) -> None:
        self.app.page.get_by_role("region", name="Your new token").get_by_role(
            "button", name="Done"
        ).click()
        expect(self.app.page.get_by_role("region", name="Your new token")).to_have_count(0)

    def revoke(self, name: str) -> None:
        self.tokens().get_by_role("button", name=f"Revoke {name}").click()
        expect(self.tokens().get_by_role("listitem").filter(has_text=name)).to_have_count(0)


@dataclass
class SettingsScreen:
    """A book's settings: members and roles, the sharing policy, the LLM."""

    app: AppPage

    @property
    def page(self) -> Page:
        return self.app.page

    @classmethod
    def open_from_book(cls, app: AppPage, link: str = "Members and settings") -> SettingsScreen:
        app.page.get_by_role("navigation", name="This book").get_by_role("link", name=link).click()
        expect(app.heading(re.compile(r": settings$"))).to_be_visible()
        return cls(app)

    def members(self) -> Locator:
        return self.page.get_by_role("list", name="Members")

    def member(self, email: str) -> Locator:
        return self.members().get_by_role("listitem").filter(has_text=email)

    def invite(self, email: str) -> None:
        self.page.get_by_label("Invite by e-mail").fill(email)
        self.page.get_by_role("button", name="Invite").click()
        expect(self.page.get_by_role("status").filter(has_text=email)).to_contain_text(
            "is now a member"
        )
        expect(self.member(email)).to_be_visible()

    def role_of(self, email: str) -> Locator:
        return self.page.get_by_label(f"Role of {email}")

    def set_role(self, email: str, role: str) -> None:
        """Pick `role` for `email`; the choice shows at once and stays (no flicker back to the
        old role while the change is saved and the members read again)."""
        control = self.role_of(email)
        before = control.input_value()
        watch(control, "value")
        control.select_option(role)
        expect(control).to_have_value(role)
        expect(control).to_be_enabled()
        settle(self.page)
        values = seen(control)
        assert values == [before, role], values

    def policy(self) -> Locator:
        return self.page.get_by_role(
            "switch", name="Chapters may be shared with people outside this book"
        )

    def set_policy(self, on: bool) -> None:
        switch = self.policy()
        watch(switch, "checked")
        switch.set_checked(on)
        expect(switch).to_be_checked(checked=on)
        expect(switch).to_be_enabled()
        settle(self.page)
        values = seen(switch)
        assert values == [str(not on).lower(), str(on).lower()], values

    def llm_form(self) -> Locator:
        return self.page.get_by_role("form", name="LLM settings")

    def set_llm(self, kind: str, model: str, url: str, key: str) -> None:
        form = self.llm_form()
        form.get_by_label("Kind").select_option(kind)
        form.get_by_label("Model").fill(model)
        form.get_by_label("API URL").fill(url)
        form.get_by_label("API key").fill(key)
        form.get_by_role("button", name="Save").click()
        expect(form.get_by_role("status")).to_contain_text("Saved.")


@dataclass
class AllChaptersScreen:
    app: AppPage

    @classmethod
    def open_from_book(cls, app: AppPage) -> AllChaptersScreen:
        app.page.get_by_role("navigation", name="This book").get_by_role(
            "link", name="All chapters"
        ).click()
        expect(app.heading(re.compile(r"^All chapters of "))).to_be_visible()
        return cls(app)

    def chapters(self) -> Locator:
        return self.app.page.get_by_role("list", name="All chapters")

    def row(self, title: str) -> Locator:
        return self.chapters().get_by_role("listitem").filter(has_text=title)

    def reassign(self, title: str, email: str) -> None:
        choice = self.app.page.get_by_label(f"Assign “{title}” to")
        before = choice.input_value()
        watch(choice, "value")
        choice.select_option(label=email)
        expect(self.row(title)).to_contain_text(f"assigned to {email}")
        expect(choice).to_be_enabled()
        settle(self.app.page)
        values = seen(choice)
        assert len(values) == 2 and values[0] == before, values


@dataclass
class SourceScreen:
    """One source: facts, text (read, edit), tags, download, delete."""

    app: AppPage

    @property
    def page(self) -> Page:
        return self.app.page

    @classmethod
    def open_from_chapter(cls, app: AppPage, name: str) -> SourceScreen:
        app.page.get_by_role("list", name="Sources").get_by_role(
            "link", name=f"Details of {name}"
        ).click()
        expect(app.heading(name)).to_be_visible()
        return cls(app)

    def status(self) -> Locator:
        """The status shown in the source's facts (the <dd> after the "Status" term)."""
        return self.page.locator("dt:text-is('Status') + dd")

    def expect_status(self, status: str) -> None:
        expect(self.status()).to_have_text(status, timeout=STEP_TIMEOUT_MS)

    def text(self, name: str) -> Locator:
        return self.page.get_by_label(f"Text of {name}")

    def start_edit(self) -> Locator:
        self.page.get_by_role("button", name="Edit the text").click()
        editor = self.page.get_by_label("Corrected text")
        expect(editor).to_be_visible()
        return editor

    def save_edit(self) -> None:
        self.page.get_by_role("button", name="Save", exact=True).click()

    def tags(self) -> Locator:
        return self.page.get_by_role("list", name="Tags")

    def add_tags(self, typed: str) -> None:
        self.page.get_by_label("Add tags").fill(typed)
        self.page.get_by_role("button", name="Add", exact=True).click()
        for tag in (t.strip() for t in typed.split(",") if t.strip()):
            expect(self.tags().get_by_role("listitem").filter(has_text=tag)).to_be_visible()

    def download(self) -> bytes:
        """Download the original, as the browser saves it; its bytes."""
        with self.page.expect_download() as download:
            self.page.get_by_role("link", name="Download the original").click()
        return Path(download.value.path()).read_bytes()

    def delete(self) -> None:
        self.page.get_by_role("button", name="Delete", exact=True).click()

    def back_to_chapter(self, title: str) -> None:
        self.page.get_by_role("navigation", name="Breadcrumb").get_by_role(
            "link", name=title
        ).click()
        expect(self.app.heading(title)).to_be_visible()


@dataclass
class ThreadsPicker:
    """The chat's thread picker: the current thread, the list, switching, a new thread."""

    app: AppPage

    @property
    def page(self) -> Page:
        return self.app.page

    def summary(self) -> Locator:
        return self.page.locator("summary").filter(has_text=re.compile(r"thread", re.I))

    def open(self) -> None:
        if not self.page.get_by_role("button", name="New thread").is_visible():
            self.summary().click()
        expect(self.page.get_by_role("button", name="New thread")).to_be_visible()

    def threads(self) -> Locator:
        return self.page.get_by_role("list", name="Threads").get_by_role("button")

    def new_thread(self) -> None:
        self.open()
        self.page.get_by_role("button", name="New thread").click()

    def switch_to(self, title: str) -> None:
        self.open()
        self.threads().filter(has_text=title).click()
        expect(self.summary()).to_contain_text(title)


def ask_and_wait(app: AppPage, question: str) -> Locator:
    """Ask `question` in the chat; the finished answer's usage line (model · tokens)."""
    page = app.page
    usage = page.get_by_text(re.compile(r"tokens \(\d[\d,]* in, \d[\d,]* out\)"))
    before = usage.count()
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Ask").click()
    expect(usage).to_have_count(before + 1, timeout=STEP_TIMEOUT_MS)
    return usage.last
