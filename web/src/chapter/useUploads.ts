// Runs the upload queue (lib/uploads.ts) against the server: each queued file is sent in its own
// XMLHttpRequest, at most LIMIT at once, its progress dispatched as it goes.
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useReducer, useRef } from "react";
import { keys, sourcesUrl } from "../api/endpoints";
import { ApiError, describe } from "../api/http";
import { client } from "../api/session";
import { toStart, uploadReducer, type UploadItem } from "../lib/uploads";
import { uploadFile, type UploadHandle } from "../lib/xhr";

const LIMIT = 3;
let counter = 0;

export interface Uploads {
  items: UploadItem[];
  add: (files: File[], tags: string[]) => void;
  retry: (id: string) => void;
  cancel: (id: string) => void;
  clear: () => void;
}

export function useUploads(chapter: string): Uploads {
  const queryClient = useQueryClient();
  const [items, dispatch] = useReducer(uploadReducer, []);
  const files = useRef(new Map<string, { file: File; tags: string[] }>());
  const running = useRef(new Map<string, UploadHandle>());

  useEffect(() => {
    for (const id of toStart(items, LIMIT)) {
      const entry = files.current.get(id);
      if (!entry) continue;
      dispatch({ type: "start", id });
      const handle = uploadFile(
        sourcesUrl(chapter),
        entry.file,
        entry.tags,
        client.headersFor("POST"),
        (loaded, total) => dispatch({ type: "progress", id, loaded, total }),
      );
      running.current.set(id, handle);
      handle.promise.then(
        (sources) => {
          dispatch({ type: "done", id, sources });
          void queryClient.invalidateQueries({ queryKey: keys.sources(chapter) });
        },
        (error: unknown) => {
          if (error instanceof ApiError) client.check(error);
          if (!(error instanceof ApiError && error.code === "aborted")) {
            dispatch({ type: "fail", id, error: describe(error) });
          }
        },
      ).finally(() => running.current.delete(id));
    }
  }, [items, chapter, queryClient]);

  useEffect(() => {
    const handles = running.current;
    return () => {
      for (const handle of handles.values()) handle.abort();
    };
  }, []);

  const add = useCallback((list: File[], tags: string[]) => {
    const made = list.map((file) => {
      const id = `u${++counter}`;
      files.current.set(id, { file, tags });
      return { id, name: file.name, size: file.size };
    });
    dispatch({ type: "add", files: made });
  }, []);

  return {
    items,
    add,
    retry: (id) => dispatch({ type: "retry", id }),
    cancel: (id) => {
      running.current.get(id)?.abort();
      dispatch({ type: "cancel", id });
    },
    clear: () => dispatch({ type: "clear" }),
  };
}
