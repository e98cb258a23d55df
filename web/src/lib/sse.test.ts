import { describe, expect, it } from "vitest";
import { readEvents, SseParser, type ServerEvent } from "./sse";

function parseAll(chunks: string[]): ServerEvent[] {
  const parser = new SseParser();
  return [...chunks.flatMap((c) => parser.feed(c)), ...parser.finish()];
}

describe("the SSE parser", () => {
  it("reads named events with JSON data", () => {
    const events = parseAll([
      'event: token\ndata: {"text": "Hel"}\n\nevent: token\ndata: {"text": "lo"}\n\n',
      'event: answer\ndata: {"id": "m1"}\n\n',
    ]);
    expect(events.map((e) => e.event)).toEqual(["token", "token", "answer"]);
    expect(JSON.parse(events[1]!.data)).toEqual({ text: "lo" });
  });

  it("joins events split anywhere across chunks", () => {
    const stream = 'event: token\ndata: {"text": "a"}\n\nevent: answer\ndata: {"x": 1}\n\n';
    const whole = parseAll([stream]);
    for (let cut = 1; cut < stream.length; cut++) {
      expect(parseAll([stream.slice(0, cut), stream.slice(cut)])).toEqual(whole);
    }
    expect(parseAll(stream.split(""))).toEqual(whole);
  });

  it("accepts CRLF and CR line ends, even a CRLF split between chunks", () => {
    expect(parseAll(["event: a\r\ndata: 1\r", "\n\r\n"])).toEqual([{ event: "a", data: "1" }]);
    expect(parseAll(["event: a\rdata: 1\r\r"])).toEqual([{ event: "a", data: "1" }]);
  });

  it("joins data lines, skips comments, defaults the name and keeps ids", () => {
    const events = parseAll([": keep-alive\n\ndata: one\ndata: two\nid: 7\n\n"]);
    expect(events).toEqual([{ event: "message", data: "one\ntwo", id: "7" }]);
  });

  it("drops events without data and strips only one leading space", () => {
    expect(parseAll(["event: ping\n\ndata:  x\n\n"])).toEqual([{ event: "message", data: " x" }]);
  });

  it("dispatches an event left unterminated when the stream ends", () => {
    expect(parseAll(["event: answer\ndata: {}"])).toEqual([{ event: "answer", data: "{}" }]);
  });

  it("reads a fetch body, multi-byte characters split across chunks included", async () => {
    const bytes = new TextEncoder().encode('event: token\ndata: {"text": "żółw 🐢"}\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 3) controller.enqueue(bytes.slice(i, i + 3));
        controller.close();
      },
    });
    const seen: ServerEvent[] = [];
    await readEvents(new Response(body), (e) => seen.push(e));
    expect(seen).toHaveLength(1);
    expect(JSON.parse(seen[0]!.data)).toEqual({ text: "żółw 🐢" });
  });
});
