import { describe, expect, it } from "vitest";
import { locatePassage } from "./passage";

const TEXT = "Bees dance.\nThe waggle run gives the direction.\nDrones do not dance.";

describe("a cited passage", () => {
  it("is its span while the span still holds its words", () => {
    const start = TEXT.indexOf("The waggle");
    const end = start + "The waggle run gives the direction.".length;
    const quote = "The waggle run gives the direction.";
    expect(locatePassage(TEXT, { start, end }, quote)).toEqual({ where: "span", from: start, to: end });
    expect(locatePassage(TEXT, { start, end })).toEqual({ where: "span", from: start, to: end });
    expect(locatePassage(TEXT, { start, end }, "The  waggle run gives\nthe direction.").where).toBe("span");
  });

  it("is found where it moved to after an edit, whitespace aside", () => {
    const edited = "Intro added.\n" + TEXT.replace("gives the", "gives\nthe");
    const quote = "The waggle run gives the direction.";
    const found = locatePassage(edited, { start: 12, end: 47 }, quote);
    expect(found.where).toBe("moved");
    if (found.where !== "gone") {
      expect(edited.slice(found.from, found.to)).toBe("The waggle run gives\nthe direction.");
    }
  });

  it("is gone when the source no longer holds it", () => {
    expect(locatePassage("Something else entirely.", { start: 0, end: 9 }, "Bees dance.")).toEqual({
      where: "gone",
    });
  });

  it("counts the span in code points (an emoji is two UTF-16 units)", () => {
    const text = "🐝 Bees dance.";
    expect(locatePassage(text, { start: 2, end: 13 }, "Bees dance.")).toEqual({ where: "span", from: 3, to: 14 });
  });
});
