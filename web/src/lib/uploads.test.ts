import { describe, expect, it } from "vitest";
import { overallProgress, toStart, uploadReducer, type UploadItem } from "./uploads";

function queue(n: number): UploadItem[] {
  const files = Array.from({ length: n }, (_, i) => ({ id: `f${i}`, name: `f${i}.pdf`, size: 100 }));
  return uploadReducer([], { type: "add", files });
}

const statuses = (items: UploadItem[]) => items.map((i) => i.status);

describe("the upload queue", () => {
  it("starts queued files up to the limit, oldest first", () => {
    let items = queue(4);
    expect(toStart(items, 2)).toEqual(["f0", "f1"]);
    items = uploadReducer(items, { type: "start", id: "f0" });
    expect(toStart(items, 2)).toEqual(["f1"]);
    items = uploadReducer(items, { type: "start", id: "f1" });
    expect(toStart(items, 2)).toEqual([]);
    items = uploadReducer(items, { type: "done", id: "f0", sources: ["s0"] });
    expect(toStart(items, 2)).toEqual(["f2"]);
  });

  it("tracks progress, and completes at the full size", () => {
    let items = uploadReducer(queue(1), { type: "start", id: "f0" });
    items = uploadReducer(items, { type: "progress", id: "f0", loaded: 60, total: 120 });
    expect(items[0]).toMatchObject({ loaded: 60, total: 120 });
    expect(overallProgress(items)).toBe(0.5);
    items = uploadReducer(items, { type: "done", id: "f0", sources: ["s0"] });
    expect(items[0]).toMatchObject({ status: "done", loaded: 120, sources: ["s0"] });
    expect(overallProgress(items)).toBe(1);
  });

  it("keeps a failure to its file, and a retry queues it again", () => {
    let items = queue(2);
    items = uploadReducer(items, { type: "start", id: "f0" });
    items = uploadReducer(items, { type: "fail", id: "f0", error: "too large" });
    expect(statuses(items)).toEqual(["failed", "queued"]);
    expect(items[0]!.error).toBe("too large");
    items = uploadReducer(items, { type: "retry", id: "f0" });
    expect(items[0]).toMatchObject({ status: "queued", loaded: 0, error: undefined });
  });

  it("ignores moves that do not fit the state", () => {
    const items = queue(1);
    expect(uploadReducer(items, { type: "done", id: "f0", sources: [] })).toBe(items);
    expect(uploadReducer(items, { type: "retry", id: "f0" })).toBe(items);
    expect(uploadReducer(items, { type: "progress", id: "f0", loaded: 1, total: 2 })).toBe(items);
    expect(uploadReducer(items, { type: "start", id: "nope" })).toBe(items);
    const done = uploadReducer(uploadReducer(items, { type: "start", id: "f0" }), {
      type: "done",
      id: "f0",
      sources: [],
    });
    expect(uploadReducer(done, { type: "cancel", id: "f0" })).toBe(done);
    expect(uploadReducer(done, { type: "fail", id: "f0", error: "late" })).toBe(done);
  });

  it("cancels queued, running and failed files; clear drops finished ones", () => {
    let items = queue(3);
    items = uploadReducer(items, { type: "start", id: "f1" });
    items = uploadReducer(items, { type: "cancel", id: "f0" });
    items = uploadReducer(items, { type: "cancel", id: "f1" });
    expect(statuses(items)).toEqual(["cancelled", "cancelled", "queued"]);
    // a late answer from a cancelled upload changes nothing
    expect(uploadReducer(items, { type: "done", id: "f1", sources: ["x"] })).toBe(items);
    expect(toStart(items, 2)).toEqual(["f2"]);
    expect(overallProgress(items)).toBe(0);
    expect(uploadReducer(items, { type: "clear" }).map((i) => i.id)).toEqual(["f2"]);
  });
});
