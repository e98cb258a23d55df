"""`ragstack me export|erase`, `ragstack sources erase` and `ragstack migrate` against a real
`ragstack serve` (docs/log-format.md, "Erasure")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve_support import ServeProcess, serving


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[ServeProcess]:
    with serving(tmp_path_factory.mktemp("erasure")) as process:
        process.invoke_json(
            "login", process.url, "--signup", "--email", "erin@example.com",
            "--password", "correct horse battery",
        )  # fmt: skip
        yield process


def _blob_files(served: ServeProcess) -> list[Path]:
    return [p for p in (served.data / "blobs").rglob("*") if p.is_file()]


def test_export_erase_a_source_migrate_then_erase_me(served: ServeProcess, tmp_path: Path):
    book = served.invoke_json("book", "create", "Notes")
    chapter = served.invoke_json("chapter", "create", book["id"], "Harbour")["id"]
    note = tmp_path / "wrecks.txt"
    note.write_text("The Skelmwhistle wreck lies off the north pier.")
    added = served.invoke_json("add", chapter, str(note), "--wait")
    source = added["sources"][0]["id"]

    out = tmp_path / "me.json"
    done = served.invoke("me", "export", "-o", str(out))
    assert done.returncode == 0, done.stderr
    exported = json.loads(out.read_text())
    assert exported["user"]["email"] == "erin@example.com"
    assert "wrecks.txt" in out.read_text()

    erased = served.invoke_json("sources", "erase", "Harbour", source)
    assert erased["rev"] is not None and erased["blobs_deleted"] >= 2
    assert not [p for p in _blob_files(served) if b"Skelmwhistle" in p.read_bytes()]
    assert served.invoke_json("verify", chapter)["ok"]

    migrated = served.invoke_json("migrate", "Harbour")
    assert migrated["id"] != chapter and migrated["title"] == "Harbour"

    refused = served.invoke("me", "erase")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    gone = served.invoke_json("me", "erase", "--yes")
    assert chapter in gone["chapters"] and len(gone["books"]) == 2
    after = served.invoke("whoami")
    assert after.returncode == 1
