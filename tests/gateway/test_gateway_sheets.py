"""An uploaded .xlsx and .pptx are found by their words, each passage naming its sheet or slide."""

from __future__ import annotations

from gateway_support import bearer, sign_up
from sources_support import new_chapter, search, until_settled, upload

from tests.projections.formats.sheets_support import make_pptx, make_xlsx


async def test_a_workbook_and_a_deck_are_searched_with_sheet_and_slide_named(client):
    headers = bearer(await sign_up(client))
    chapter = await new_chapter(client, headers)
    workbook = make_xlsx({"Inventory": [["item", "count"], ["copper lanterns", 12]],
                          "Suppliers": [["thistle farm", "north"]]})  # fmt: skip
    deck = make_pptx([("Intro", ["welcome"]), ("Glaciers", ["glacier pebbles in the tundra"])])
    added = await upload(client, chapter, headers, [
        ("stock.xlsx", workbook, "application/octet-stream"),
        ("talk.pptx", deck, "application/octet-stream"),
    ])  # fmt: skip
    assert added.status_code == 201, added.text
    for source in added.json()["sources"]:
        assert (await until_settled(client, chapter, source["id"], headers))[
            "status"
        ] == "extracted"

    hits = (await search(client, chapter, headers, "copper lanterns", k=1))["hits"]
    assert hits[0]["source_name"] == "stock.xlsx"
    assert hits[0]["span"]["heading"] == "Sheet: Inventory"
    hits = (await search(client, chapter, headers, "glacier pebbles tundra", k=1))["hits"]
    assert hits[0]["source_name"] == "talk.pptx"
    assert (hits[0]["span"]["page"], hits[0]["span"]["heading"]) == (2, "Slide 2: Glaciers")
