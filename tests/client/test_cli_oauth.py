"""`ragstack connector connect` against a real `ragstack serve` whose operator set up OneDrive and
Dropbox with environment variables (local servers speak Graph, Dropbox and their token
endpoints): OneDrive by a user code (the device flow, the client public as Microsoft has it),
Dropbox by a link opened in a browser
(played here by the test), each then synced."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.dropbox_server import FakeDropbox
from tests.fakes.oauth_server import FakeOAuth
from tests.fakes.onedrive_server import FakeOneDrive
from tests.serve_support import ServeProcess, cli_env, serving, spawned


@pytest.fixture(scope="module")
def onedrive() -> Iterator[FakeOneDrive]:
    with FakeOneDrive(FakeOAuth(device_interval=1, rotate=True, public_device=True)) as fake:
        fake.folder("LIB", "Thesis")
        fake.put("i1", "outline.txt", b"an outline of the orchard thesis", parent="LIB")
        fake.put("i2", "bees.txt", b"bees visit the apple blossom", parent="LIB")
        yield fake


@pytest.fixture(scope="module")
def dropbox() -> Iterator[FakeDropbox]:
    with FakeDropbox() as fake:
        fake.folder("/Research")
        fake.put("id:a1", "/Research/plan.txt", b"plant the orchard")
        yield fake


def _env(provider: str, fake) -> dict[str, str]:
    settings = fake.settings(provider)[provider]
    if provider == "dropbox":  # Dropbox has no device flow
        del settings["device_url"]
    return {f"RAGSTACK_CONNECTORS_OAUTH_{provider.upper()}_{k.upper()}": v
            for k, v in settings.items()}  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory, onedrive, dropbox) -> Iterator[ServeProcess]:
    with serving(
        tmp_path_factory.mktemp("oauth"), RAGSTACK_WEB_ALLOW_PRIVATE_ADDRESSES="true",
        RAGSTACK_CONNECTORS_SYNC_INTERVAL_S="0", **_env("microsoft", onedrive),
        **_env("dropbox", dropbox),
    ) as process:  # fmt: skip
        process.invoke_json(
            "login", process.url, "--signup", "--email", "dora@example.com",
            "--password", "correct horse battery",
        )  # fmt: skip
        yield process


def new_chapter(served: ServeProcess, title: str) -> str:
    book = served.invoke_json("book", "create", f"Library {title}")
    return served.invoke_json("chapter", "create", book["id"], title)["id"]


def test_onedrive_is_connected_with_a_user_code_and_synced(served, onedrive):
    chapter = new_chapter(served, "Thesis")
    onedrive.oauth.device_script = ["authorization_pending", "ok"]
    done = served.invoke("connector", "connect", chapter, "--provider", "microsoft",
                         "--library", "LIB", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "WDJB-MJHT" in done.stderr and "https://example.test/device" in done.stderr
    connector = json.loads(done.stdout)
    assert connector["kind"] == "onedrive" and connector["library"] == "LIB"
    assert "do-not-leak" not in done.stdout + done.stderr
    # Microsoft treats a device flow's client as public: the refresh goes without the secret.
    onedrive.oauth.expire_access()
    synced = served.invoke_json("sync", chapter, "--connector", connector["id"])
    assert synced["connectors"][0]["report"]["added"] == 2
    assert onedrive.oauth.grants[-1] == "refresh_token"


def test_dropbox_is_connected_with_a_link_and_synced(served, dropbox):
    chapter = new_chapter(served, "Research")
    args = ("connector", "connect", chapter, "--provider", "dropbox", "--library", "/Research",
            "--json")  # fmt: skip
    with spawned(*args, env=cli_env(served.config_home)) as proc:
        assert proc.stderr is not None
        link, printed = "", []
        while not link.startswith("http"):
            line = proc.stderr.readline()
            printed.append(line)
            assert line, f"the CLI ended without printing a link: {printed}"
            link = line.strip()
        code, state, _ = dropbox.oauth.approve(link)
        back = httpx.get(f"{served.url}/v1/connectors/oauth/callback",
                         params={"code": code, "state": state})  # fmt: skip
        assert back.status_code == 303 and "connector=" in back.headers["location"]
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    connector = json.loads(out)
    assert connector["kind"] == "dropbox"
    synced = served.invoke_json("sync", chapter, "--connector", connector["id"])
    assert synced["connectors"][0]["report"]["added"] == 1
