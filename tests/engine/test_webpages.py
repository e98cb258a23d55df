"""Web pages as sources: a real loopback web site, a real chapter log, a real blob store."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from website_support import (
    ARTICLE_TEXT,
    PNG_BLUE,
    PNG_RED,
    LocalSite,
    article_html,
    serve_article,
)

from engine.blobs import LocalBlobStore, blob_hash
from engine.log import Logs
from engine.rules import Invalid
from engine.webpages import (
    AddressRefused,
    FetchLimits,
    InvalidUrl,
    NotHtml,
    PageFailed,
    PageTooLarge,
    PageUnreachable,
    WebFetcher,
    add_web_page,
    check_url,
    parse_page,
)
from events import SourceAdded, new_id

LOCAL = FetchLimits(allow_private_addresses=True)


@pytest.fixture
def site():
    with LocalSite() as s:
        serve_article(s)
        yield s


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
async def chapter_log(shared_nc):
    async with Logs(shared_nc) as logs:
        log = logs.chapter(new_id())
        await log.create()
        yield log


async def test_a_page_becomes_a_source_with_its_images(site, blobs, chapter_log):
    added = await add_web_page(
        chapter_log,
        blobs,
        WebFetcher(LOCAL),
        actor="u1",
        url=site.url("/article"),
        tags=["coast", " history "],
    )
    # The event names the page by its title and keeps where it came from.
    assert added.name == "Northern Lighthouses"
    assert (added.origin, added.url, added.media_type) == ("url", site.url("/article"), "text/html")
    assert added.tags == ["coast", "history"]
    # The HTML as served is the source's blob; both images are kept, in page order.
    html = article_html().encode()
    assert await blobs.get(added.blob) == html and added.size == len(html)
    assert added.assets == [blob_hash(PNG_RED), blob_hash(PNG_BLUE)]
    assert [await blobs.get(h) for h in added.assets] == [PNG_RED, PNG_BLUE]
    # The log holds exactly that event.
    events = [e async for e in chapter_log.read()]
    assert len(events) == 1 and events[0].envelope.body == added


async def test_redirects_are_followed_and_the_final_address_kept(site, blobs, chapter_log):
    site.redirect("/short", "/article")
    added = await add_web_page(
        chapter_log, blobs, WebFetcher(LOCAL), actor="u1", url=site.url("/short#top")
    )
    assert added.url == site.url("/article")
    assert len(added.assets) == 2


async def test_a_page_without_a_title_is_named_by_its_address(site, blobs, chapter_log):
    site.page("/bare", "<html><body><p>Just words.</p></body></html>")
    added = await add_web_page(
        chapter_log, blobs, WebFetcher(LOCAL), actor="u1", url=site.url("/bare")
    )
    assert added.name == site.url("/bare")
    assert added.assets == []


async def test_images_that_cannot_be_had_are_left_out(site, blobs, chapter_log):
    site.route("/img/huge.png", PNG_RED + b"\x00" * 5000, "image/png")
    site.route("/img/streamed-huge.png", PNG_BLUE + b"\x00" * 5000, "image/png", stream=True)
    site.route("/img/not-an-image.png", b"<html></html>", "text/html")
    images = (
        "/img/missing.png",
        "/img/huge.png",
        "/img/streamed-huge.png",
        "/img/not-an-image.png",
        "/img/red.png",
        "/img/red.png#again",
        "data:image/png;base64,AAAA",
    )
    site.page("/gallery", article_html(images))
    fetcher = WebFetcher(FetchLimits(allow_private_addresses=True, max_image_bytes=1000))
    added = await add_web_page(chapter_log, blobs, fetcher, actor="u1", url=site.url("/gallery"))
    # Only the one usable image, once; the page itself is added all the same.
    assert added.assets == [blob_hash(PNG_RED)]
    assert "/img/missing.png" in site.requests
    # Nothing of the oversized images was kept.
    kept = [p for p in (blobs.root).rglob("*") if p.is_file()]
    assert {p.name for p in kept} == {added.blob, blob_hash(PNG_RED)}


async def test_at_most_max_images_are_fetched(site, blobs, chapter_log):
    fetcher = WebFetcher(FetchLimits(allow_private_addresses=True, max_images=1))
    added = await add_web_page(chapter_log, blobs, fetcher, actor="u1", url=site.url("/article"))
    assert added.assets == [blob_hash(PNG_RED)]
    assert "/img/blue.png" not in site.requests


@pytest.mark.parametrize(
    ("setup", "path", "error", "words"),
    [
        (lambda s: None, "/nowhere", PageFailed, "404"),
        (
            lambda s: s.route("/paper.pdf", b"%PDF-1.7 ...", "application/pdf"),
            "/paper.pdf",
            NotHtml,
            "application/pdf",
        ),
        (
            lambda s: s.route("/blob", b"\x00\x01binary", None),
            "/blob",
            NotHtml,
            "not HTML",
        ),
        (
            lambda s: s.page("/huge", "<html>" + "x" * 5000 + "</html>"),
            "/huge",
            PageTooLarge,
            "4,096",
        ),
        (
            lambda s: s.route("/huge-stream", b"<html>" + b"x" * 5000, "text/html", stream=True),
            "/huge-stream",
            PageTooLarge,
            "4,096",
        ),
        (lambda s: s.redirect("/loop", "/loop"), "/loop", PageUnreachable, "redirects"),
        (
            lambda s: s.redirect("/to-ftp", "ftp://127.0.0.1/file"),
            "/to-ftp",
            InvalidUrl,
            "not http",
        ),
        (
            lambda s: s.route("/slow", b"<html></html>", "text/html", delay_s=1.5),
            "/slow",
            PageUnreachable,
            "did not answer",
        ),
    ],
    ids=[
        "404",
        "pdf",
        "untyped-binary",
        "too-large",
        "too-large-streamed",
        "redirect-loop",
        "redirect-to-ftp",
        "timeout",
    ],
)
async def test_a_page_that_cannot_be_had_is_a_clear_error_and_appends_nothing(
    site, blobs, chapter_log, setup, path, error, words
):
    setup(site)
    limits = FetchLimits(allow_private_addresses=True, max_page_bytes=4096, timeout_s=0.5)
    with pytest.raises(error) as caught:
        await add_web_page(chapter_log, blobs, WebFetcher(limits), actor="u1", url=site.url(path))
    assert isinstance(caught.value, Invalid)  # the gateway answers 422
    assert words in str(caught.value)
    assert (await chapter_log.head()).rev == 0


async def test_an_unreachable_host_is_a_clear_error(blobs, chapter_log):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    with pytest.raises(PageUnreachable, match="could not fetch"):
        await add_web_page(
            chapter_log, blobs, WebFetcher(LOCAL), actor="u1", url=f"http://127.0.0.1:{port}/"
        )
    with pytest.raises(PageUnreachable, match="resolve"):
        await add_web_page(
            chapter_log, blobs, WebFetcher(LOCAL), actor="u1", url="http://no-such-host.invalid/"
        )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
async def test_by_default_local_addresses_are_refused(site, blobs, chapter_log, host):
    url = f"http://{host}:{site.port}/article"
    with pytest.raises(AddressRefused, match="non-public"):
        await add_web_page(chapter_log, blobs, WebFetcher(), actor="u1", url=url)
    assert site.requests == []  # refused before connecting
    assert (await chapter_log.head()).rev == 0


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "empty"),
        ("ftp://example.org/file", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("example.org/page", "only http and https"),
        ("http://", "names no host"),
        ("https://alice:secret@example.org/", "user name or password"),
        ("http://[::1/", "not a valid URL"),
        ("https://example.org/" + "a" * 3000, "longer than"),
    ],
)
def test_urls_that_cannot_be_fetched_are_refused(url, words):
    with pytest.raises(InvalidUrl, match=words):
        check_url(url)


def test_urls_are_normalised():
    assert check_url("  https://Example.org/a b?q=1#frag ") == "https://example.org/a%20b?q=1"


def test_parse_page_reads_title_and_images_relative_to_base():
    html = (
        b"<html><head><title>T</title><base href='https://cdn.example.org/assets/'></head>"
        b"<body><img src='a.png'><img src='/b.png'><img src=''><img src='javascript:x'>"
        b"<img src='https://other.example.org/c.png'></body></html>"
    )
    title, images = parse_page(html, "https://example.org/page")
    assert title == "T"
    assert images == [
        "https://cdn.example.org/assets/a.png",
        "https://cdn.example.org/b.png",
        "https://other.example.org/c.png",
    ]
    assert parse_page(b"", "https://example.org/") == (None, [])


async def test_the_page_text_is_what_ingest_extracts(site):
    # The HTML blob goes through the same extractor as an uploaded HTML file.
    from projections.formats import extract

    async with WebFetcher(LOCAL).client() as client:
        page = await WebFetcher(LOCAL).fetch_page(client, site.url("/article"))
    text = extract(page.html, name="Northern Lighthouses", declared_type=page.media_type).text
    assert ARTICLE_TEXT in text
    assert "tracking" not in text and "Contact" not in text


def test_source_added_keeps_assets_across_the_codec():
    import msgspec

    body = SourceAdded(
        source=new_id(), name="n", media_type="text/html", blob="0" * 64, size=1, assets=["1" * 64]
    )
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(body), type=SourceAdded) == body
