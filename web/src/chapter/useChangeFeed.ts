// Keeps a chapter's cached answers fresh from its change feed (server-sent events over the
// chapter's log). Where the server has no feed (404) or it keeps failing, the screen falls back
// to polling; a dropped feed is reopened after the last rev seen, with a growing pause.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { changeFeed, keys } from "../api/endpoints";
import { ApiError } from "../api/http";
import type { Change } from "../api/types";
import { readEvents } from "../lib/sse";

export type FeedMode = "connecting" | "live" | "polling";

const MAX_FAILURES = 3;

export function useChangeFeed(chapter: string, onChange?: (change: Change) => void): FeedMode {
  const queryClient = useQueryClient();
  const [mode, setMode] = useState<FeedMode>("connecting");
  const listener = useRef(onChange);
  listener.current = onChange;

  useEffect(() => {
    const abort = new AbortController();
    let after = 0;
    let failures = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let refresh: ReturnType<typeof setTimeout> | undefined;

    // Many changes arrive together (an upload of fifty files): refresh once per burst.
    function changed() {
      if (refresh) return;
      refresh = setTimeout(() => {
        refresh = undefined;
        void queryClient.invalidateQueries({ queryKey: keys.sources(chapter) });
        void queryClient.invalidateQueries({ queryKey: keys.chapter(chapter) });
      }, 250);
    }

    async function run(): Promise<void> {
      try {
        const response = await changeFeed(chapter, after, abort.signal);
        setMode("live");
        failures = 0;
        if (after > 0) changed(); // what happened while the feed was down
        await readEvents(response, (event) => {
          if (event.event !== "change") return;
          const change = JSON.parse(event.data) as Change;
          after = Math.max(after, change.rev);
          listener.current?.(change);
          changed();
        });
      } catch (error) {
        if (abort.signal.aborted) return;
        if (error instanceof ApiError && (error.status === 404 || error.signedOut)) {
          setMode("polling");
          return;
        }
        failures++;
      }
      if (abort.signal.aborted) return;
      if (failures >= MAX_FAILURES) setMode("polling");
      timer = setTimeout(() => void run(), Math.min(30_000, 1000 * 2 ** failures));
    }

    void run();
    return () => {
      abort.abort();
      clearTimeout(timer);
      clearTimeout(refresh);
    };
  }, [chapter, queryClient]);

  return mode;
}
