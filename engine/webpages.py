"""Web pages as sources: fetch a page and its images, keep them as blobs, add the source.

    fetcher = WebFetcher()  # public addresses only
    added = await add_web_page(log, blobs, fetcher, actor=user, url="https://…", tags=["x"])

The page's HTML bytes become the source's blob (ingest extracts the main text as from any HTML
upload); its `<img>` images, fetched best-effort within bounds, are kept as blobs whose hashes
the event carries in `SourceAdded.assets`. Every failure to get the page itself is a
`WebPageError` (an `Invalid` input, HTTP 422) that says what went wrong; an image that cannot be
fetched is left out and the page is added without it.

This is a source command like those of engine/sources.py, so it lives beside them rather than in
the gateway: it writes blobs and appends to a chapter log, and a caller other than the HTTP API
(the demo, an import) uses it the same way.

Only http and https are fetched, without credentials in the URL and without the environment's
proxies. Unless `FetchLimits.allow_private_addresses`, every connection (the page, each redirect,
each image) is checked at connect time against the address actually dialled, so neither a
redirect nor a DNS answer that changes between a check and its use (rebinding) reaches loopback,
private, link-local or other non-public addresses from a server that fetches for its users.

It is one module (about 450 lines): the address guard, the bounded reads and the page's images
are one fetch, and each of them is only safe together with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx
import lxml.html
import msgspec
from lxml import etree

from engine.blobs import BlobStore
from engine.errors import BlobTooLarge
from engine.log import Log
from engine.rules import Invalid
from engine.sources import clean_tags
from events import SourceAdded, new_id

__all__ = [
    "HTML_TYPES",
    "AddressRefused",
    "FetchLimits",
    "InvalidUrl",
    "NotHtml",
    "PageFailed",
    "PageTooLarge",
    "PageUnreachable",
    "WebFetcher",
    "WebPage",
    "WebPageError",
    "add_web_page",
    "check_url",
]

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
"""Media types taken as web pages."""
MAX_URL_CHARS = 2048
MAX_NAME_CHARS = 255
USER_AGENT = "RagStack (web page import)"


class WebPageError(Invalid):
    """The page could not be added; the message says why (HTTP 422)."""

    code = "web_page_error"


class InvalidUrl(WebPageError):
    """Not an http(s) URL that can be fetched."""

    code = "invalid_url"


class AddressRefused(WebPageError):
    """The URL leads to a loopback, private or otherwise non-public address."""

    code = "address_refused"


class PageUnreachable(WebPageError):
    """No answer: unknown host, refused connection, timeout, too many redirects."""

    code = "page_unreachable"


class PageFailed(WebPageError):
    """The server answered with an error status (404, 500, …)."""

    code = "page_http_error"


class NotHtml(WebPageError):
    """The address serves something other than an HTML page."""

    code = "not_html"


class PageTooLarge(WebPageError):
    """The page is larger than the limit."""

    code = "page_too_large"


class FetchLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Bounds on what fetching one page may cost."""

    timeout_s: float = 30.0
    """Deadline for the whole page: connecting, redirects and the body."""
    connect_timeout_s: float = 10.0
    """Deadline for each connection, name resolution included."""
    max_redirects: int = 5
    """Redirects followed before giving up."""
    max_page_bytes: int = 10 * 2**20
    """Largest page body accepted."""
    max_images: int = 20
    """Images fetched per page, in page order; the rest are left out."""
    max_image_bytes: int = 5 * 2**20
    """Largest image kept; larger ones are left out."""
    images_timeout_s: float = 30.0
    """Deadline for all of a page's images together; those not done by then are left out."""
    image_concurrency: int = 4
    """Images fetched at once."""
    allow_private_addresses: bool = False
    """Fetch from loopback and private networks too (a one-user machine, tests)."""


class WebPage(msgspec.Struct, frozen=True, kw_only=True):
    """A fetched HTML page."""

    url: str
    """The address the page came from, after redirects."""
    media_type: str
    """text/html or application/xhtml+xml."""
    html: bytes
    """The body as served."""
    title: str | None
    """The page's <title>, whitespace collapsed; None if it has none."""
    image_urls: list[str]
    """Absolute http(s) addresses of its <img> images, in page order, without repeats."""


def check_url(url: str) -> str:
    """`url` as a normalised absolute http(s) URL without a fragment; InvalidUrl otherwise."""
    text = url.strip()
    if not text:
        raise InvalidUrl("the URL is empty")
    if len(text) > MAX_URL_CHARS:
        raise InvalidUrl(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidUrl(f"{text!r} is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        shown = f"{parsed.scheme}:" if parsed.scheme else "no scheme"
        raise InvalidUrl(f"only http and https pages can be added, not {shown} ({text!r})")
    if not parsed.host:
        raise InvalidUrl(f"{text!r} names no host")
    if parsed.userinfo:
        # The URL is kept in the chapter log for everyone with access to read.
        raise InvalidUrl("the URL must not carry a user name or password")
    return str(parsed.copy_with(fragment=None))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _GuardedBackend(httpcore.AnyIOBackend):
    """Resolves names itself and dials only the addresses it checked."""

    def __init__(self, *, allow_private: bool, refusal: str) -> None:
        self.allow_private = allow_private
        self.refusal = refusal

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.allow_private:
            refused = [a for a in addresses if not _public(a)]
            if refused:
                raise AddressRefused(
                    f"{host} is at {refused[0]}, a loopback, private or otherwise non-public "
                    f"address; {self.refusal}"
                )
        error: Exception = httpcore.ConnectError(f"no address found for {host}")
        for address in addresses:
            try:
                return await super().connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error


def guarded_transport(
    allow_private: bool, *, refusal: str = "only public web pages can be added"
) -> httpx.AsyncHTTPTransport:
    """An httpx transport that dials public addresses only (unless `allow_private`), checked
    at connect time against the address actually dialled; `refusal` ends the error's message."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx takes no network backend of its own; its connection pool (httpcore) does, so the
    # pool is replaced by one that dials through the guard. tests/engine/test_webpages.py
    # proves the guard is in the path (a loopback page is refused).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=8,
        keepalive_expiry=5.0,
        network_backend=_GuardedBackend(allow_private=allow_private, refusal=refusal),
    )
    return transport


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _declared_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def _collapse(text: str) -> str:
    return " ".join(text.split())


def parse_page(html: bytes, url: str) -> tuple[str | None, list[str]]:
    """The title and the absolute http(s) image addresses of an HTML page (blocking)."""
    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None, []  # no document at all: ingest says so when it extracts the text
    title_text = doc.findtext(".//title")
    title = _collapse(title_text)[:MAX_NAME_CHARS] if title_text else None
    base = url
    base_href = doc.xpath("string(//base/@href)")
    if base_href:
        base = urljoin(url, str(base_href).strip())
    images: dict[str, None] = {}
    for src in doc.xpath("//img/@src"):
        src = str(src).strip()
        if not src or src.startswith("data:"):
            continue  # inline images are part of the HTML blob already
        absolute = urljoin(base, src).split("#", 1)[0]
        if absolute.startswith(("http://", "https://")):
            images[absolute] = None
    return title or None, list(images)


class WebFetcher:
    """Fetches pages and their images within `limits`."""

    def __init__(self, limits: FetchLimits | None = None) -> None:
        self.limits = limits or FetchLimits()

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """An HTTP client for one page and its images."""
        limits = self.limits
        async with httpx.AsyncClient(
            transport=guarded_transport(limits.allow_private_addresses),
            follow_redirects=True,
            max_redirects=limits.max_redirects,
            timeout=httpx.Timeout(limits.timeout_s, connect=limits.connect_timeout_s),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        ) as client:
            yield client

    async def fetch_page(self, client: httpx.AsyncClient, url: str) -> WebPage:
        """The page at `url`; a WebPageError saying why when it cannot be had."""
        url = check_url(url)
        try:
            async with asyncio.timeout(self.limits.timeout_s):
                final, media_type, body = await self._get_page(client, url)
        except TimeoutError:
            raise PageUnreachable(
                f"{url} did not answer within {self.limits.timeout_s:g} s"
            ) from None
        except httpx.TooManyRedirects:
            raise PageUnreachable(
                f"{url} redirects more than {self.limits.max_redirects} times"
            ) from None
        except httpx.UnsupportedProtocol as exc:
            raise InvalidUrl(f"{url} redirects to an address that is not http(s): {exc}") from None
        except httpx.TimeoutException:
            raise PageUnreachable(f"{url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise PageUnreachable(f"could not fetch {url}: {exc or type(exc).__name__}") from None
        title, images = await asyncio.to_thread(parse_page, body, final)
        return WebPage(url=final, media_type=media_type, html=body, title=title, image_urls=images)

    async def _get_page(self, client: httpx.AsyncClient, url: str) -> tuple[str, str, bytes]:
        limit = self.limits.max_page_bytes
        accept = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
        async with client.stream("GET", url, headers={"Accept": accept}) as response:
            final = str(response.url)
            if not response.is_success:
                raise PageFailed(
                    f"{final} answered {response.status_code} {response.reason_phrase}".rstrip()
                )
            media_type = _media_type(response)
            if media_type and media_type not in HTML_TYPES:
                raise NotHtml(
                    f"{final} serves {media_type}, not an HTML page; to add a file, "
                    "download it and upload it"
                )
            declared = _declared_length(response)
            if declared is not None and declared > limit:
                raise PageTooLarge(f"{final} is {declared:,} bytes; the limit is {limit:,} bytes")
            parts: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise PageTooLarge(f"{final} is larger than the limit of {limit:,} bytes")
                parts.append(chunk)
        body = b"".join(parts)
        if not media_type:
            if body.strip() and not _looks_like_html(body):
                raise NotHtml(f"{final} does not say what it serves and it is not HTML")
            media_type = "text/html"
        return final, media_type, body

    async def fetch_images(
        self, client: httpx.AsyncClient, blobs: BlobStore, urls: Sequence[str]
    ) -> list[str]:
        """Store the images at `urls` (within the limits); their hashes, in order, no repeats."""
        limits = self.limits
        slots = asyncio.Semaphore(max(1, limits.image_concurrency))

        async def one(url: str) -> str | None:
            async with slots:
                return await self._fetch_image(client, blobs, url)

        tasks = [asyncio.create_task(one(url)) for url in urls[: limits.max_images]]
        if not tasks:
            return []
        try:
            _, late = await asyncio.wait(tasks, timeout=limits.images_timeout_s)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if late:
            log.info(
                "left out %d images not fetched within %g s", len(late), limits.images_timeout_s
            )
        hashes: dict[str, None] = {}
        for task in tasks:
            if task.cancelled():
                continue
            error = task.exception()
            if error is not None:
                raise error  # not the image's fault (the blob store failing): say so
            found = task.result()
            if found is not None:
                hashes[found] = None
        return list(hashes)

    async def _fetch_image(
        self, client: httpx.AsyncClient, blobs: BlobStore, url: str
    ) -> str | None:
        limit = self.limits.max_image_bytes
        try:
            async with client.stream("GET", url, headers={"Accept": "image/*"}) as response:
                if not response.is_success or not _media_type(response).startswith("image/"):
                    log.info("left out image %s: %s", url, response.status_code)
                    return None
                declared = _declared_length(response)
                if declared is not None and declared > limit:
                    log.info("left out image %s: %d bytes", url, declared)
                    return None
                info = await blobs.put_stream(response.aiter_bytes(), max_size=limit)
                return info.hash
        except (httpx.HTTPError, WebPageError, BlobTooLarge) as exc:
            log.info("left out image %s: %s", url, exc)
            return None


async def add_web_page(
    log_: Log,
    blobs: BlobStore,
    fetcher: WebFetcher,
    *,
    actor: str,
    url: str,
    tags: Sequence[str] = (),
) -> SourceAdded:
    """Fetch the page at `url` and its images, store them, and append `SourceAdded`."""
    body = await fetch_web_page(blobs, fetcher, url=url, tags=tags)
    await log_.append(body, actor=actor)
    return body


async def fetch_web_page(
    blobs: BlobStore, fetcher: WebFetcher, *, url: str, tags: Sequence[str] = ()
) -> SourceAdded:
    """Fetch the page at `url` and its images, store them, and make the `SourceAdded` that
    names them, for the caller to append.

    The source is named by the page's title (the URL when it has none), has origin `url`, the
    address it came from (after redirects) as `url`, and its images' hashes as `assets`.
    """
    tags = clean_tags(tags)
    async with fetcher.client() as client:
        page = await fetcher.fetch_page(client, url)
        blob = await blobs.put(page.html)
        assets = await fetcher.fetch_images(client, blobs, page.image_urls)
    body = SourceAdded(
        source=new_id(),
        name=page.title or page.url[:MAX_NAME_CHARS],
        media_type=page.media_type,
        blob=blob,
        size=len(page.html),
        origin="url",
        url=page.url,
        tags=tags,
        assets=assets,
    )
    return body
