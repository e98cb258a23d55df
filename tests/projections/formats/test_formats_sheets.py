"""Spreadsheets (.xlsx, .ods) and presentations (.pptx, .odp): their words, with the sheet or the
slide as the place a passage is cited at."""

from __future__ import annotations

import io
import zipfile

import pytest

from projections.formats import Rejected, extract, location_at
from tests.projections.formats.sheets_support import make_odp, make_ods, make_pptx, make_xlsx


def place_of(extracted, word: str):
    return location_at(extracted.sections, extracted.text.index(word))


def test_an_xlsx_gives_each_sheet_its_rows_under_its_name():
    data = make_xlsx({
        "Budget": [["item", "cost"], ["lanterns", 120], ["saddles", 80]],
        "Staff": [["name", "role"], ["Willow", "ferrier"]],
    })  # fmt: skip
    got = extract(data, name="farm.xlsx")
    assert got.media_type.endswith("spreadsheetml.sheet")
    assert "lanterns\t120" in got.text and "Willow\tferrier" in got.text
    assert place_of(got, "lanterns") == (None, "Sheet: Budget")
    assert place_of(got, "ferrier") == (None, "Sheet: Staff")


def test_a_pptx_gives_each_slide_its_number_and_title():
    data = make_pptx([("Harvest plan", ["orchard first", "then the meadow"]),
                      ("Risks", ["glacier melt floods the quarry"])])  # fmt: skip
    got = extract(data, name="plan.pptx")
    assert got.media_type.endswith("presentationml.presentation")
    assert place_of(got, "orchard") == (1, "Slide 1: Harvest plan")
    assert place_of(got, "glacier") == (2, "Slide 2: Risks")


def test_ods_and_odp_read_the_same_way():
    ods = extract(make_ods({"Birds": [["falcon", "swift"]]}), name="birds.ods")
    assert place_of(ods, "falcon") == (None, "Sheet: Birds")
    assert ods.text.count("falcon") == 1  # the repeated empty filler cells add nothing
    odp = extract(make_odp([("Copper", ["cobalt and copper"])]), name="talk.odp")
    assert place_of(odp, "cobalt") == (1, "Slide 1: Copper")


def test_a_damaged_or_empty_workbook_is_rejected_clearly():
    good = make_xlsx({"S": [["x"]]})
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    parts["xl/worksheets/sheet1.xml"] = b"<worksheet><sheetData><row>"  # cut short
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    with pytest.raises(Rejected) as broken:
        extract(out.getvalue(), name="broken.xlsx")
    assert broken.value.code == "corrupt" and "damaged Excel workbook" in str(broken.value)
    with pytest.raises(Rejected) as empty:
        extract(make_xlsx({"Blank": []}), name="blank.xlsx")
    assert empty.value.code == "empty" and "no text in any sheet" in str(empty.value)
