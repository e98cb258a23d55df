"""Web pages as sources over HTTP: POST {"url": …} against a real web site on a loopback port.

The gateway's fetcher refuses non-public addresses unless the operator sets
`web.allow_private_addresses`; most tests give the app one that may fetch from loopback (a real
WebFetcher, only its limits differ) through FastAPI's dependency override.
"""

from __future__ import annotations

import msgspec
import pytest
from gateway_support import assert_error, bearer, sign_up
from sources_support import new_chapter, search, sources_url

from app.settings import Settings
from engine.blobs import blob_hash
from engine.settings import Limits, WebSettings
from engine.webpages import FetchLimits, WebFetcher
from events import SourceAdded
from gateway.routes.sources import get_web_fetcher
from tests.engine.website_support import (
    ARTICLE_TEXT,
    PNG_BLUE,
    PNG_RED,
    LocalSite,
    article_html,
    serve_article,
)

PAGE_LIMIT = 50_000


@pytest.fixture
def limits() -> Limits:
    return Limits(requests_per_minute_token=0, requests_per_minute_address=0)


@pytest.fixture
def web() -> WebSettings:
    """The operator's web settings; a test parametrizes `web` to change them."""
    return WebSettings()


@pytest.fixture
def settings(settings: Settings, web: WebSettings) -> Settings:
    return msgspec.structs.replace(settings, web=web)


@pytest.fixture
def site():
    with LocalSite() as s:
        serve_article(s)
        s.page("/huge", "<html><body>" + "<p>words</p>" * 10_000 + "</body></html>")
        s.route("/data.json", b'{"not": "a page"}', "application/json")
        yield s


@pytest.fixture
def local_fetching(app):
    app.dependency_overrides[get_web_fetcher] = lambda: WebFetcher(
        FetchLimits(allow_private_addresses=True, max_page_bytes=PAGE_LIMIT, timeout_s=5)
    )
    yield
    app.dependency_overrides.pop(get_web_fetcher, None)


@pytest.fixture
async def owner(client):
    return bearer(await sign_up(client))


@pytest.fixture
async def chapter(client, owner):
    return await new_chapter(client, owner)


async def test_a_web_page_becomes_an_extracted_source_with_its_images(
    client, owner, chapter, site, services, local_fetching
):
    added = await client.post(
        sources_url(chapter),
        params={"wait": "true"},
        json={"url": site.url("/article"), "tags": ["coast"]},
        headers=owner,
    )
    assert added.status_code == 201, added.text
    [source] = added.json()["sources"]
    assert source["name"] == "Northern Lighthouses"
    assert (source["origin"], source["url"], source["tags"]) == (
        "url",
        site.url("/article"),
        ["coast"],
    )
    assert source["status"] == "extracted"
    assert source["media_type"] == "text/html"
    # The main text was extracted; scripts and navigation were not.
    text = (await client.get(sources_url(chapter, source["id"], "text"), headers=owner)).text
    assert ARTICLE_TEXT in text
    assert "tracking" not in text and "Contact" not in text
    # The page's images are blobs, named by the event.
    events = [e.envelope.body async for e in services.logs.chapter(chapter).read()]
    [event] = [b for b in events if isinstance(b, SourceAdded)]
    assert event.assets == [blob_hash(PNG_RED), blob_hash(PNG_BLUE)]
    assert [await services.blobs.get(h) for h in event.assets] == [PNG_RED, PNG_BLUE]
    # And the page is searchable.
    found = await search(client, chapter, owner, "what fuel did lighthouses burn?", k=1)
    assert found["hits"][0]["source"] == source["id"]
    # The original HTML comes back as a download that cannot run as a page of the API's origin.
    original = await client.get(sources_url(chapter, source["id"], "file"), headers=owner)
    assert original.content == article_html().encode()
    assert original.headers["content-security-policy"] == "sandbox"
    assert original.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("/missing", "page_http_error", "404"),
        ("/huge", "page_too_large", "50,000"),
        ("/data.json", "not_html", "application/json"),
    ],
)
async def test_pages_that_cannot_be_added_are_clear_422s(
    client, owner, chapter, site, services, local_fetching, path, code, words
):
    head = (await services.logs.chapter(chapter).head()).rev
    refused = await client.post(sources_url(chapter), json={"url": site.url(path)}, headers=owner)
    assert words in assert_error(refused, 422, code)["message"]
    assert (await services.logs.chapter(chapter).head()).rev == head


async def test_bad_addresses_are_clear_422s(client, owner, chapter, local_fetching):
    for url, code in [
        ("ftp://example.org/file.txt", "invalid_url"),
        ("not a url", "invalid_url"),
        ("http://no-such-host.invalid/", "page_unreachable"),
    ]:
        refused = await client.post(sources_url(chapter), json={"url": url}, headers=owner)
        assert_error(refused, 422, code)


async def test_the_server_refuses_to_fetch_from_its_own_network(
    client, owner, chapter, site, services
):
    # No override: the gateway's own fetcher, as deployed, with the setting at its default (off).
    refused = await client.post(
        sources_url(chapter), json={"url": site.url("/article")}, headers=owner
    )
    assert "non-public" in assert_error(refused, 422, "address_refused")["message"]
    assert site.requests == []
    fetcher = get_web_fetcher(services)
    assert not fetcher.limits.allow_private_addresses
    assert fetcher.limits.max_page_bytes == min(
        FetchLimits().max_page_bytes, services.settings.limits.upload_bytes
    )


@pytest.mark.parametrize("web", [WebSettings(allow_private_addresses=True)])
async def test_an_operator_may_let_the_server_fetch_from_private_networks(
    client, owner, chapter, site, services
):
    # No override either: the setting alone opens loopback to the gateway's own fetcher.
    assert get_web_fetcher(services).limits.allow_private_addresses
    added = await client.post(
        sources_url(chapter),
        params={"wait": "true"},
        json={"url": site.url("/article")},
        headers=owner,
    )
    assert added.status_code == 201, added.text
    [source] = added.json()["sources"]
    assert (source["url"], source["status"]) == (site.url("/article"), "extracted")
    assert site.requests[0] == "/article"
    text = (await client.get(sources_url(chapter, source["id"], "text"), headers=owner)).text
    assert ARTICLE_TEXT in text
