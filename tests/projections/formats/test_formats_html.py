"""HTML and XHTML: main content as blocks, headings as sections, code and chrome dropped."""

import pytest

from projections.formats import Rejected, extract, location_at

PAGE = """<!DOCTYPE html>
<html><head><title>Field Guide</title>
<style>body { font-family: serif; }</style>
<script>window.secret = "tracking code";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>Birds</h1>
<p>Robins sing <b>before</b> dawn,<br>and wrens after.</p>
<div hidden>Hidden promo text</div>
<h2>Habitats</h2>
<ul><li>Woodland</li><li>Meadow</li></ul>
<table><tr><th>Bird</th><th>Weight</th></tr><tr><td>Robin</td><td>18 g</td></tr></table>
<pre>
  indented   code
</pre>
<noscript>Enable JavaScript</noscript>
</body></html>"""


def test_page_text_is_blocks_with_headings():
    result = extract(PAGE.encode(), name="guide.html")

    assert result.text == (
        "Field Guide\n\nBirds\n\nRobins sing before dawn,\nand wrens after.\n\n"
        "Habitats\n\nWoodland\nMeadow\n\nBird | Weight\nRobin | 18 g\n\n  indented   code"
    )
    assert location_at(result.sections, 0) == (None, "Field Guide")
    assert location_at(result.sections, result.text.index("Robins")) == (None, "Birds")
    assert location_at(result.sections, result.text.index("Robin |")) == (None, "Habitats")


def test_scripts_styles_navigation_and_hidden_parts_are_dropped():
    text = extract(PAGE.encode(), name="guide.html").text

    for dropped in ("tracking code", "font-family", "About", "Hidden promo", "Enable JavaScript"):
        assert dropped not in text


def test_main_element_is_preferred_over_the_rest_of_the_body():
    page = b"<html><body><header>Site banner</header><main><h1>Story</h1><p>Words.</p></main><footer>Copyright</footer></body></html>"  # fmt: skip

    result = extract(page, name="story.html")

    assert result.text == "Story\n\nWords."


def test_meta_charset_decides_the_encoding_of_a_legacy_page():
    page = '<html><head><meta charset="windows-1252"></head><body><p>Café crème — déjà vu.</p></body></html>'  # fmt: skip

    assert extract(page.encode("cp1252"), name="menu.htm").text == "Café crème — déjà vu."


def test_xhtml_with_an_xml_declaration_is_read():
    page = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>T</title></head>'
        "<body><h2>Über</h2><p>Grüße.</p></body></html>"
    ).encode()

    result = extract(page, name="page.xhtml")

    assert result.media_type == "application/xhtml+xml"
    assert result.text == "T\n\nÜber\n\nGrüße."
    assert location_at(result.sections, result.text.index("Grüße")) == (None, "Über")


def test_page_with_only_markup_is_empty():
    with pytest.raises(Rejected) as caught:
        extract(b"<html><head><script>x()</script></head><body> </body></html>", name="e.html")

    assert caught.value.code == "empty"
