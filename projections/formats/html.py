"""HTML and XHTML with lxml: the main content as blocks, headings kept, scripts and chrome dropped."""

import codecs
import re

import lxml
import lxml.html
from lxml import etree

from projections.formats.base import FORMATS_VERSION, Extracted, Limits, Rejected, TextBuilder
from projections.formats.text import decode_text

VERSION = f"{FORMATS_VERSION}+lxml-{lxml.__version__}"

# Never text a reader sees: code, styling, embedded media, navigation and form controls.
_DROPPED = ("script", "style", "noscript", "template", "svg", "math", "canvas", "iframe",
            "object", "embed", "nav", "select", "button", "head")  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LINES = frozenset({"li", "dt", "dd", "option", "caption", "figcaption"})  # one line each
_BLOCKS = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote",
    "ul", "ol", "dl", "table", "form", "fieldset", "figure",
    "address", "hr", "body", "html", "details", "summary", "center",
}) | _LINES  # fmt: skip
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _decode(data: bytes) -> str:
    """The page's text: a BOM, then valid UTF-8, then the page's <meta charset>, then a guess."""
    if not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        found = _META_CHARSET.search(data[:4096])
        if found:
            try:
                return data.decode(found.group(1).decode("ascii"), errors="replace")
            except LookupError:
                pass
    return decode_text(data)[0]


def _collapse(text: str) -> str:
    return " ".join(text.split())


class _Walker:
    def __init__(self, builder: TextBuilder) -> None:
        self.builder = builder
        self.inline: list[str] = []
        self.in_line = [False]  # whether the innermost open block is one line (li, dt, …)
        self.after_line = False  # whether the last block added was one line: lines stack up

    def add(self, text: str, *, line: bool) -> None:
        if text:
            self.builder.add(text, "\n" if line and self.after_line else "\n\n")
            self.after_line = line

    def flush(self) -> None:
        lines = (_collapse(line) for line in "".join(self.inline).split("\n"))
        self.add("\n".join(line for line in lines if line), line=self.in_line[-1])
        self.inline.clear()

    def walk(self, element: etree._Element) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _HEADINGS:
            self.flush()
            title = _collapse(element.text_content())
            if title:
                self.builder.mark(heading=title)
                self.add(title, line=False)
            return
        if tag == "pre":
            self.flush()
            self.add(element.text_content().strip("\n"), line=False)
            return
        if tag == "tr":
            self.flush()
            cells = [_collapse(c.text_content()) for c in element if c.tag in ("td", "th")]
            self.add(" | ".join(cells) if any(cells) else "", line=True)
            return
        if tag == "br":
            self.inline.append("\n")
            return
        block = tag in _BLOCKS
        if block:
            self.flush()
            self.in_line.append(tag in _LINES)
            self.after_line = self.after_line and tag in _LINES  # a new list or table: a new group
        if tag and element.text:
            self.inline.append(element.text)
        for child in element:
            self.walk(child)
            if child.tail:
                self.inline.append(child.tail)
        if block:
            self.flush()
            self.in_line.pop()
            self.after_line = self.after_line and tag in _LINES


def extract_html(data: bytes, *, name: str, media_type: str, limits: Limits) -> Extracted:
    source = _XML_DECLARATION.sub("", _decode(data), count=1)
    if not source.strip():
        raise Rejected("empty", f"{name} is an empty web page: it has no text")
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    try:
        root = lxml.html.document_fromstring(source, parser=parser)
    except (etree.ParserError, ValueError) as error:
        raise Rejected("corrupt", f"{name} is not a readable web page: {error}") from error
    title = _collapse(root.findtext(".//title") or "")
    for element in list(root.iter(*_DROPPED)):
        if element.getparent() is not None:
            element.drop_tree()
    for element in root.xpath("//*[@hidden or @aria-hidden='true']"):
        if element.getparent() is not None:
            element.drop_tree()
    # A page that marks its main content gets only that; otherwise the whole body.
    mains = root.xpath("//main | //*[@role='main']")
    content = next((m for m in mains if m.text_content().strip()), None)
    if content is None:
        content = root.find("body") if root.find("body") is not None else root
    builder = TextBuilder(name, limits)
    if title:
        builder.mark(heading=title)
        builder.add(title)
    walker = _Walker(builder)
    walker.walk(content)
    walker.flush()
    empty = f"{name} is a web page without text"
    if builder.length == len(title):  # the title, added first, is all there is
        raise Rejected("empty", empty)
    return builder.extracted(
        media_type=media_type, extractor="lxml-html", version=VERSION, empty=empty
    )
