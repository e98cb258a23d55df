// One file uploaded with XMLHttpRequest, the one browser API that reports upload progress.
import { ApiError, errorFrom } from "../api/http";

export interface UploadHandle {
  promise: Promise<string[]>;
  abort: () => void;
}

export function uploadFile(
  url: string,
  file: File,
  tags: string[],
  headers: Record<string, string>,
  onProgress: (loaded: number, total: number) => void,
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<string[]>((resolve, reject) => {
    xhr.open("POST", url);
    xhr.withCredentials = false; // same origin: the cookie goes anyway
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          const answer = JSON.parse(xhr.responseText) as { sources: { id: string }[] };
          resolve(answer.sources.map((s) => s.id));
        } catch {
          resolve([]);
        }
      } else reject(errorFrom(xhr.status, xhr.responseText, xhr.statusText));
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "The upload was interrupted."));
    xhr.onabort = () => reject(new ApiError(0, "aborted", "Cancelled."));
    const form = new FormData();
    form.append("file", file, file.name);
    for (const tag of tags) form.append("tags", tag);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
