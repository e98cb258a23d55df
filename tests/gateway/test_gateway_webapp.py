"""The web app's build is served at `/`, at every path the app routes to, and under `/assets/`;
the API and the server's own pages are never shadowed; without a build `/` is the welcome page."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from gateway_support import assert_error, sign_up

from engine.settings import Limits
from gateway.routes.webapp import SHELL_CSP

SHELL = (
    '<!doctype html><html><head><script type="module" src="/assets/index-4f2a.js"></script>'
    '<link rel="stylesheet" href="/assets/index-9c1e.css"></head><body><div id="root"></div>'
    "</body></html>"
)
SCRIPT = "export const app = 1;\n" * 200
STYLE = "body { margin: 0 }\n" * 100


@pytest.fixture
def webapp_dir(tmp_path: Path) -> Path:
    """A build as web/ writes it: a shell, hashed assets (one with its .gz beside it), a favicon."""
    build = tmp_path / "webapp"
    (build / "assets").mkdir(parents=True)
    (build / "index.html").write_text(SHELL)
    (build / "assets" / "index-4f2a.js").write_text(SCRIPT)
    (build / "assets" / "index-9c1e.css").write_text(STYLE)
    (build / "assets" / "index-9c1e.css.gz").write_bytes(gzip.compress(STYLE.encode(), 9))
    (build / "favicon.ico").write_bytes(b"\x00\x00\x01\x00")
    return build


def assert_shell(response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == SHELL
    assert response.headers["content-security-policy"] == SHELL_CSP
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-frame-options"] == "DENY"


async def test_the_root_is_the_app_shell_with_a_strict_policy(client):
    response = await client.get("/")
    assert_shell(response)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.parametrize("path", ["/books", "/books/01j0/chapters/01j1", "/sign-in", "/index.html"])
async def test_every_path_the_app_routes_to_gets_the_shell(client, path):
    assert_shell(await client.get(path))


async def test_assets_are_cached_for_good_with_their_media_types(client):
    script = await client.get("/assets/index-4f2a.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert script.text == SCRIPT


async def test_assets_are_gzipped_for_clients_that_take_it(client):
    # Made here (no .gz beside it): the client decodes it to the same text.
    script = await client.get("/assets/index-4f2a.js", headers={"Accept-Encoding": "gzip"})
    assert script.headers["content-encoding"] == "gzip"
    assert int(script.headers["content-length"]) < len(SCRIPT) / 10
    assert script.text == SCRIPT
    # Precompressed at build time: the .gz beside it is sent as it is.
    style = await client.get("/assets/index-9c1e.css", headers={"Accept-Encoding": "gzip, br"})
    assert style.headers["content-encoding"] == "gzip"
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert style.text == STYLE
    # A client that does not take gzip gets the plain bytes.
    plain = await client.get("/assets/index-9c1e.css", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == STYLE


async def test_an_unchanged_shell_is_not_sent_again(client):
    first = await client.get("/")
    again = await client.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_a_missing_asset_or_file_is_404_never_the_shell(client):
    assert_error(await client.get("/assets/index-0000.js"), 404, "not_found")
    assert_error(await client.get("/assets/%2e%2e/index.html"), 404, "not_found")
    assert_error(await client.get("/robots.txt"), 404, "not_found")
    assert_error(await client.get("/.env"), 404, "not_found")


async def test_a_top_level_file_of_the_build_is_served(client):
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"


async def test_the_app_answers_only_gets(client):
    # A write to an app path is no page: 404 as before, not a 405 that invents a route.
    assert_error(await client.post("/books", json={}), 404, "not_found")


@pytest.mark.parametrize(
    "path", ["/v1", "/v1/", "/v1/nothing-here", "/v1/books/x/nothing", "/docs/nothing", "/health/x"]
)
async def test_unknown_reserved_paths_stay_json_404s(client, path):
    assert_error(await client.get(path), 404, "not_found")


async def test_the_reserved_paths_are_never_shadowed(client):
    token = await sign_up(client)
    assert (await client.get("/v1/info")).json()["version"]
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert_error(await client.get("/v1/me"), 401, "not_authenticated")
    assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.")
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    redoc = await client.get("/redoc")
    assert redoc.status_code == 200 and "redoc" in redoc.text.lower()
    assert (await client.get("/health")).json()
    assert (await client.get("/health/ready")).status_code in (200, 503)
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and "ragstack_http_requests" in metrics.text
    # A method a reserved path does not serve is still its 405, with its Allow.
    refused = await client.delete("/v1/info")
    assert_error(refused, 405, "method_not_allowed")
    assert refused.headers["allow"] == "GET"


async def test_the_app_is_not_part_of_the_api_schema(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths and not [p for p in paths if p.startswith(("/assets", "/books"))]


class TestRateLimits:
    @pytest.fixture
    def limits(self) -> Limits:
        return Limits(requests_per_minute_address=2)

    async def test_static_files_cost_nothing_and_pages_are_charged(self, client):
        for _ in range(5):
            assert (await client.get("/assets/index-4f2a.js")).status_code == 200
        assert (await client.get("/books")).status_code == 200
        assert (await client.get("/books")).status_code == 200
        assert_error(await client.get("/books"), 429, "rate_limited")


class TestWithoutABuild:
    @pytest.fixture
    def webapp_dir(self, tmp_path: Path) -> Path:
        return tmp_path / "not-built-yet"

    async def test_the_root_is_the_welcome_page(self, client):
        response = await client.get("/")
        assert response.status_code == 200
        assert (
            "ragstack login" in response.text and "content-security-policy" not in response.headers
        )

    async def test_app_paths_and_assets_are_404(self, client):
        assert_error(await client.get("/books"), 404, "not_found")
        assert_error(await client.get("/assets/index-4f2a.js"), 404, "not_found")

    async def test_a_build_that_appears_is_served_without_a_restart(self, client, webapp_dir):
        webapp_dir.mkdir()
        (webapp_dir / "index.html").write_text(SHELL)
        assert_shell(await client.get("/books"))
