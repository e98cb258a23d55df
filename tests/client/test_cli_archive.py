"""`ragstack export`, `ragstack import` and `ragstack verify --archive` against a real `ragstack
serve`: an exported chapter verifies offline, imports as a new chapter that verifies, and a
tampered or truncated archive is refused naming what is wrong, with nothing imported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audit.archive_tamper import flip_event
from tests.serve_support import ServeProcess, serving


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[ServeProcess]:
    with serving(tmp_path_factory.mktemp("archives")) as process:
        process.invoke_json(
            "login", process.url, "--signup", "--email", "dora@example.com",
            "--password", "correct horse battery",
        )  # fmt: skip
        yield process


def test_export_import_and_verify_round_trip(served: ServeProcess, tmp_path: Path):
    book = served.invoke_json("book", "create", "Archive")
    chapter = served.invoke_json("chapter", "create", book["id"], "Tides")["id"]
    note = tmp_path / "tides.txt"
    note.write_text("Two high tides a day, near enough.")
    added = served.invoke("add", chapter, str(note), "--wait")
    assert added.returncode == 0, added.stderr

    # Export, for people: the file and what it holds.
    archive = tmp_path / "tides.tar"
    done = served.invoke("export", "Tides", "-o", str(archive))
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and archive.is_file()
    assert not (tmp_path / "tides.tar.part").exists()

    # Offline: no server, no account.
    checked = served.invoke("verify", "--archive", str(archive), XDG_CONFIG_HOME=str(tmp_path))
    assert checked.returncode == 0 and "✓" in checked.stdout, checked.stdout + checked.stderr
    report = served.invoke_json("verify", "--archive", str(archive))
    assert report["ok"] and report["chapter"] == chapter and report["blobs"] >= 1

    # Import: several books (the sign-up's own and this one), so --book is needed.
    unsure = served.invoke("import", str(archive))
    assert unsure.returncode == 1 and "--book" in unsure.stderr
    imported = served.invoke_json("import", str(archive), "--book", "Archive")
    assert imported["id"] != chapter and imported["title"] == "Tides"
    verified = served.invoke_json("verify", imported["id"])
    assert verified["ok"]
    listed = served.invoke_json("chapter", "list", "Archive")["chapters"]
    assert {c["id"] for c in listed} == {chapter, imported["id"]}

    # Tampered at rev 2 (a payload byte, the manifest made to agree): named, refused.
    bad = flip_event(archive, 2, tmp_path / "bad.tar")
    refused = served.invoke("verify", "--archive", str(bad))
    assert refused.returncode == 1 and "rev 2" in refused.stdout, refused.stdout
    as_json = served.invoke("verify", "--archive", str(bad), "--json")
    assert json.loads(as_json.stdout)["first_bad_rev"] == 2
    rejected = served.invoke("import", str(bad), "--book", "Archive")
    assert rejected.returncode == 1 and "rev 2" in rejected.stderr, rejected.stderr
    # Truncated: refused too.
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[:1500])
    assert served.invoke("verify", "--archive", str(cut)).returncode == 1
    assert served.invoke("import", str(cut), "--book", "Archive").returncode == 1
    listed = served.invoke_json("chapter", "list", "Archive")["chapters"]
    assert len(listed) == 2
