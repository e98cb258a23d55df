import { describe, expect, it } from "vitest";
import { ApiError } from "../api/http";
import { MAX_TAGS, addTags, isStale, removeTag, saveError, sameTags, textStats } from "./sourceEdit";

describe("tags", () => {
  it("are added trimmed, de-duplicated and sorted, as the server keeps them", () => {
    expect(addTags(["b"], " a, b ,, c ")).toEqual({ ok: true, tags: ["a", "b", "c"] });
    expect(removeTag(["a", "b"], "a")).toEqual(["b"]);
    expect(sameTags(["b", "a"], ["a", "b"])).toBe(true);
    expect(sameTags(["a"], ["a", "b"])).toBe(false);
  });

  it("refuse nothing typed, a long tag, and too many", () => {
    expect(addTags([], " , ")).toEqual({ ok: false, error: "Type a tag first." });
    expect(addTags([], "x".repeat(65)).ok).toBe(false);
    expect(addTags([], "é".repeat(64)).ok).toBe(true); // counted in characters, not bytes
    const full = Array.from({ length: MAX_TAGS }, (_, i) => `t${String(i).padStart(2, "0")}`);
    expect(addTags(full, "t00").ok).toBe(true);
    expect(addTags(full, "new").ok).toBe(false);
  });
});

describe("a refused save", () => {
  it("says a stale revision plainly, and only that code is stale", () => {
    const stale = new ApiError(409, "source_changed", "bees.txt changed since you opened it");
    expect(isStale(stale)).toBe(true);
    expect(saveError(stale)).toMatch(/changed this source after you opened it.*not saved.*Reload/s);
    const removed = new ApiError(409, "source_removed", "bees.txt was removed from the chapter");
    expect(isStale(removed)).toBe(false);
    expect(saveError(removed)).toBe("bees.txt was removed from the chapter");
    expect(saveError(new ApiError(409, "not_extracted", "x"))).toMatch(/no extracted text/);
    expect(saveError(new Error("boom"))).toBe("boom");
  });
});

describe("text stats", () => {
  it("count words and lines", () => {
    expect(textStats("")).toBe("0 words · 0 lines");
    expect(textStats("one two\nthree")).toBe("3 words · 2 lines");
    expect(textStats("a ".repeat(1500))).toBe("1,500 words · 1 line");
    expect(textStats("one")).toBe("1 word · 1 line");
    expect(textStats("one\ntwo\n")).toBe("2 words · 2 lines");
  });
});
