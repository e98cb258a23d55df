// Server-sent events read from a fetch body (EventSource cannot POST or send headers). The parser
// follows the HTML standard's event-stream rules: lines end in LF, CR or CRLF, possibly split
// across chunks; `data:` lines join with LF; a line starting with ":" is a comment; a blank line
// dispatches; an event with no data is dropped.

export interface ServerEvent {
  event: string;
  data: string;
  id?: string;
}

export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | undefined;
  private pendingCR = false;

  /** The events completed by `chunk` (text already decoded). */
  feed(chunk: string): ServerEvent[] {
    let text = chunk;
    // A CR ending the last chunk may be the first half of a CRLF.
    if (this.pendingCR && text.startsWith("\n")) text = text.slice(1);
    this.pendingCR = false;
    this.buffer += text;
    const out: ServerEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== "\n" && ch !== "\r") continue;
      this.line(this.buffer.slice(start, i), out);
      if (ch === "\r") {
        if (i + 1 === this.buffer.length) this.pendingCR = true;
        else if (this.buffer[i + 1] === "\n") i++;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** The event a stream ending without its final blank line leaves, if any. */
  finish(): ServerEvent[] {
    const out: ServerEvent[] = [];
    if (this.buffer) this.line(this.buffer, out);
    this.buffer = "";
    this.line("", out);
    return out;
  }

  private line(line: string, out: ServerEvent[]): void {
    if (line === "") {
      if (this.data.length) {
        const event: ServerEvent = { event: this.event || "message", data: this.data.join("\n") };
        if (this.id !== undefined) event.id = this.id;
        out.push(event);
      }
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
  }
}

/** Reads `response`'s body as server-sent events, calling `onEvent` for each, until it ends. */
export async function readEvents(
  response: Response,
  onEvent: (event: ServerEvent) => void,
): Promise<void> {
  if (!response.body) throw new Error("the answer has no body to stream");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (const event of parser.feed(value)) onEvent(event);
  }
  for (const event of parser.finish()) onEvent(event);
}
