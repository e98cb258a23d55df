"""PDF with pypdf: page sections, outline headings, passwords, limits."""

import pytest

from projections.formats import Rejected, extract, location_at
from tests.projections.formats.corpus import make_pdf, rewrite_pdf

PAGES = [
    ["Cover", "A report on rivers."],
    ["Chapter One", "The river bends twice near the mill."],
    [],  # a blank page still counts as a page
    ["Chapter Two", "The delta is wide & shallow (mostly)."],
]


def test_each_page_is_a_section_with_its_number():
    result = extract(make_pdf(PAGES), name="rivers.pdf")

    assert result.extractor == "pypdf"
    assert [(s.page, s.heading) for s in result.sections] == [(1, None), (2, None), (4, None)]
    assert location_at(result.sections, result.text.index("bends twice")) == (2, None)
    assert location_at(result.sections, result.text.index("delta")) == (4, None)
    assert "The delta is wide & shallow (mostly)." in result.text


def test_outline_items_name_the_heading_of_their_pages():
    data = rewrite_pdf(make_pdf(PAGES), outline=[("Rivers", 0), ("Bends", 1), ("Deltas", 3)])

    result = extract(data, name="rivers.pdf")

    assert location_at(result.sections, result.text.index("A report")) == (1, "Rivers")
    assert location_at(result.sections, result.text.index("bends twice")) == (2, "Bends")
    assert location_at(result.sections, result.text.index("delta")) == (4, "Deltas")


def test_pdf_protected_only_by_an_owner_password_opens():
    # Permissions-only protection: the user password is empty, so anyone may read it.
    data = rewrite_pdf(make_pdf(PAGES), user_password="", owner_password="owner")

    result = extract(data, name="restricted.pdf")

    assert "The river bends twice near the mill." in result.text


def test_pdf_with_a_user_password_is_encrypted():
    data = rewrite_pdf(make_pdf(PAGES), user_password="reader", owner_password="owner")

    with pytest.raises(Rejected) as caught:
        extract(data, name="locked.pdf")

    assert caught.value.code == "encrypted"
    assert "password" in caught.value.message


def test_pdf_of_blank_pages_has_no_text_layer():
    with pytest.raises(Rejected) as caught:
        extract(make_pdf([[], []]), name="blank.pdf")

    assert caught.value.code == "empty"
    assert "OCR" in caught.value.message


def test_text_limit_stops_a_long_pdf():
    from projections.formats import Limits

    with pytest.raises(Rejected) as caught:
        extract(make_pdf(PAGES), name="rivers.pdf", limits=Limits(max_text_chars=40))

    assert caught.value.code == "too_large"
