"""`ragstack book …` and `ragstack chapter …`: books, members and chapters over HTTP.

A BOOK or CHAPTER argument is an id, or a name/title when that is unambiguous among what the
caller can see (ids are what scripts should use; names are for people at a terminal).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from client.cli_common import (
    CliError,
    JsonOpt,
    console,
    emit_json,
    errors_handled,
    id_table,
    open_client,
    report,
)
from client.models import Book, Chapter
from client.sync import Client
from events import is_id

__all__ = ["book_app", "chapter_app", "resolve_book", "resolve_chapter"]

book_app = typer.Typer(help="Books (organisations) and their members.", no_args_is_help=True)
chapter_app = typer.Typer(help="Chapters (notebooks) of a book.", no_args_is_help=True)


def resolve_book(client: Client, book: str) -> Book:
    """The book named by id or by name."""
    books = client.books()
    for candidate in books:
        if candidate.id == book:
            return candidate
    named = [b for b in books if b.name.casefold() == book.casefold()]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        ids = ", ".join(b.id for b in named)
        raise CliError(f"several books are named {book!r} ({ids}): use the id", code="ambiguous")
    raise CliError(
        f"no book {book!r} among yours (`ragstack book list`)", code="not_found", status=404
    )


def resolve_chapter(client: Client, chapter: str) -> str:
    """The id of the chapter named by id or by title (titles are looked up in every book)."""
    if is_id(chapter):
        return chapter
    found: list[Chapter] = []
    for book in client.books():
        found.extend(
            c for c in client.chapters(book.id) if c.title.casefold() == chapter.casefold()
        )
    if len(found) == 1:
        return found[0].id
    if len(found) > 1:
        ids = ", ".join(c.id for c in found)
        raise CliError(
            f"several chapters are titled {chapter!r} ({ids}): use the id", code="ambiguous"
        )
    raise CliError(
        f"no chapter {chapter!r} among yours (`ragstack chapter list`)",
        code="not_found",
        status=404,
    )


# --- books ---


@book_app.command("list")
def book_list(json_output: JsonOpt = False) -> None:
    """The books you belong to."""
    with errors_handled(json_output), open_client() as client:
        books = client.books()
        if json_output:
            emit_json({"books": books})
            return
        if not books:
            console.print("No books yet: `ragstack book create NAME`")
            return
        table = id_table("name", "your role", "chapters", "members")
        for b in books:
            table.add_row(b.id, escape(b.name), b.role or "", str(b.chapters), str(b.members))
        console.print(table)


@book_app.command("create")
def book_create(
    name: Annotated[str, typer.Argument(help="The book's name.")], json_output: JsonOpt = False
) -> None:
    """Create a book; you are its owner."""
    with errors_handled(json_output), open_client() as client:
        book = client.create_book(name)
        report(
            book, f"Created book [bold]{escape(book.name)}[/] ({book.id})", json_output=json_output
        )


@book_app.command("members")
def book_members(
    book: Annotated[str, typer.Argument(help="Book id or name.")], json_output: JsonOpt = False
) -> None:
    """A book's members and open invitations."""
    with errors_handled(json_output), open_client() as client:
        members = client.members(resolve_book(client, book).id)
        if json_output:
            emit_json({"members": members})
            return
        table = id_table("e-mail", "role", "", id_header="user")
        for m in members:
            table.add_row(m.user, escape(m.email), m.role, "invited" if m.pending else "")
        console.print(table)


@book_app.command("invite")
def book_invite(
    book: Annotated[str, typer.Argument(help="Book id or name.")],
    email: Annotated[str, typer.Argument(help="Their e-mail address.")],
    role: Annotated[str, typer.Option(help="admin or member.")] = "member",
    json_output: JsonOpt = False,
) -> None:
    """Add someone to a book (they join when they sign in with that address)."""
    with errors_handled(json_output), open_client() as client:
        member = client.invite(resolve_book(client, book).id, email, role=role)
        if json_output:
            emit_json(member)
        elif member.pending:
            console.print(
                f"Invited {escape(member.email)} as {member.role}: they join when they sign up "
                "or sign in with that address (no e-mail is sent; tell them)"
            )
        else:
            console.print(f"Added {escape(member.email)} as {member.role}")


# --- chapters ---


@chapter_app.command("list")
def chapter_list(
    book: Annotated[
        str | None, typer.Argument(help="Book id or name (default: every book).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """The chapters you can see."""
    with errors_handled(json_output), open_client() as client:
        books = [resolve_book(client, book)] if book else client.books()
        chapters = [c for b in books for c in client.chapters(b.id)]
        if json_output:
            emit_json({"chapters": chapters})
            return
        if not chapters:
            console.print("No chapters yet: `ragstack chapter create BOOK TITLE`")
            return
        names = {b.id: b.name for b in books}
        table = id_table("title", "book")
        for c in chapters:
            table.add_row(c.id, escape(c.title), escape(names.get(c.book, c.book)))
        console.print(table)


@chapter_app.command("create")
def chapter_create(
    book: Annotated[str, typer.Argument(help="Book id or name.")],
    title: Annotated[str, typer.Argument(help="The chapter's title.")],
    json_output: JsonOpt = False,
) -> None:
    """Create a chapter in a book (assigned to you)."""
    with errors_handled(json_output), open_client() as client:
        chapter = client.create_chapter(resolve_book(client, book).id, title)
        report(
            chapter,
            f"Created chapter [bold]{escape(chapter.title)}[/] ({chapter.id})",
            json_output=json_output,
        )


@chapter_app.command("rename")
def chapter_rename(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    title: Annotated[str, typer.Argument(help="The new title.")],
    json_output: JsonOpt = False,
) -> None:
    """Give a chapter a new title."""
    with errors_handled(json_output), open_client() as client:
        renamed = client.rename_chapter(resolve_chapter(client, chapter), title)
        report(
            renamed,
            f"Renamed {renamed.id} to [bold]{escape(renamed.title)}[/]",
            json_output=json_output,
        )


@chapter_app.command("delete")
def chapter_delete(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Take a chapter out of its book (its log stays for audit)."""
    with errors_handled(json_output), open_client() as client:
        chapter_id = resolve_chapter(client, chapter)
        if not yes:
            if json_output or not sys.stdin.isatty():
                raise CliError("deleting a chapter needs --yes when nobody can be asked")
            typer.confirm(f"Delete chapter {chapter_id}?", abort=True)
        client.delete_chapter(chapter_id)
        report({"deleted": chapter_id}, f"Deleted chapter {chapter_id}", json_output=json_output)
