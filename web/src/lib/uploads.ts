// The upload queue as a pure state machine, so its rules can be tested without a browser:
//
//   queued ──start──▶ uploading ──done──▶ done
//     │                 │    └──fail──▶ failed ──retry──▶ queued
//     └──cancel──┬──────┘                  │
//                ▼                         ▼
//            cancelled ◀──────cancel───────┘
//
// Each file uploads in a request of its own (per-file progress, one failure stays one file's),
// at most `limit` at a time. An action that does not fit the item's state changes nothing.

export type UploadStatus = "queued" | "uploading" | "done" | "failed" | "cancelled";

export interface UploadItem {
  id: string;
  name: string;
  size: number;
  status: UploadStatus;
  /** Bytes sent so far (of `total`, the request's size, which a multipart body makes larger). */
  loaded: number;
  total: number;
  error?: string;
  /** The ids of the sources the upload made. */
  sources?: string[];
}

export type UploadAction =
  | { type: "add"; files: { id: string; name: string; size: number }[] }
  | { type: "start"; id: string }
  | { type: "progress"; id: string; loaded: number; total: number }
  | { type: "done"; id: string; sources: string[] }
  | { type: "fail"; id: string; error: string }
  | { type: "retry"; id: string }
  | { type: "cancel"; id: string }
  | { type: "clear" };

const MOVES: Record<string, UploadStatus[]> = {
  start: ["queued"],
  progress: ["uploading"],
  done: ["uploading"],
  fail: ["uploading"],
  retry: ["failed"],
  cancel: ["queued", "uploading", "failed"],
};

function update(items: UploadItem[], id: string, action: string, change: Partial<UploadItem>) {
  const allowed = MOVES[action] ?? [];
  let changed = false;
  const next = items.map((item) => {
    if (item.id !== id || !allowed.includes(item.status)) return item;
    changed = true;
    return { ...item, ...change };
  });
  return changed ? next : items;
}

export function uploadReducer(items: UploadItem[], action: UploadAction): UploadItem[] {
  switch (action.type) {
    case "add":
      return [
        ...items,
        ...action.files.map(
          (f): UploadItem => ({ ...f, status: "queued", loaded: 0, total: f.size }),
        ),
      ];
    case "start":
      return update(items, action.id, "start", { status: "uploading", loaded: 0 });
    case "progress":
      return update(items, action.id, "progress", {
        loaded: Math.min(action.loaded, action.total),
        total: action.total,
      });
    case "done": {
      const item = items.find((i) => i.id === action.id);
      return update(items, action.id, "done", {
        status: "done",
        loaded: item?.total ?? 0,
        sources: action.sources,
      });
    }
    case "fail":
      return update(items, action.id, "fail", { status: "failed", error: action.error });
    case "retry":
      return update(items, action.id, "retry", { status: "queued", loaded: 0, error: undefined });
    case "cancel":
      return update(items, action.id, "cancel", { status: "cancelled" });
    case "clear":
      return items.filter((i) => i.status !== "done" && i.status !== "cancelled");
  }
}

/** The queued items to start now so that no more than `limit` upload at once, oldest first. */
export function toStart(items: UploadItem[], limit: number): string[] {
  const running = items.filter((i) => i.status === "uploading").length;
  return items
    .filter((i) => i.status === "queued")
    .slice(0, Math.max(0, limit - running))
    .map((i) => i.id);
}

/** The fraction of the queue's bytes sent, over items not cancelled (1 for an empty queue). */
export function overallProgress(items: UploadItem[]): number {
  const live = items.filter((i) => i.status !== "cancelled");
  const total = live.reduce((sum, i) => sum + i.total, 0);
  if (total === 0) return 1;
  return live.reduce((sum, i) => sum + i.loaded, 0) / total;
}
