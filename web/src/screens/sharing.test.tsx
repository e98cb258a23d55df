// The share, accept and history screens and the virtualised list render their first state
// without a browser (server-side rendering in Node): labelled controls, a loading state rather
// than a blank page, and only a window of a long list.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { renderToString } from "react-dom/server";
import { MemoryRouter, Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { ShareDialog } from "../chapter/ShareDialog";
import { SharedMark } from "../chapter/SharedMark";
import { VirtualList } from "../components/VirtualList";
import { AcceptScreen } from "./Accept";
import { HistoryScreen } from "./History";

function render(node: ReactNode, path = "/", pattern = "/"): string {
  return renderToString(
    <QueryClientProvider client={new QueryClient()}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={pattern} element={node} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

function count(html: string, needle: string): number {
  return html.split(needle).length - 1;
}

describe("virtualised lists", () => {
  it("render a window of a thousand rows, each knowing its place in the whole", () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({ id: `s${i}`, name: `source ${i}` }));
    const html = render(
      <VirtualList items={items} label="Sources" getKey={(s) => s.id} estimateSize={50}>
        {(s) => <span>{s.name}</span>}
      </VirtualList>,
    );
    const rows = count(html, 'role="listitem"');
    expect(rows).toBeGreaterThan(5);
    expect(rows).toBeLessThan(60);
    expect(html).toContain('aria-setsize="1000"');
    expect(html).toContain('aria-posinset="1"');
    expect(html).toContain("source 0");
    expect(html).not.toContain("source 999");
    expect(html).toContain('aria-label="Sources"');
    expect(html).toContain("height:50000px"); // the scroll height of all rows, before measuring
  });

  it("render every row of a short list", () => {
    const html = render(
      <VirtualList items={["a", "b", "c"]} label="Few" getKey={(s) => s} estimateSize={40}>
        {(s) => <span>row-{s}</span>}
      </VirtualList>,
    );
    expect(count(html, 'role="listitem"')).toBe(3);
  });
});

describe("the share dialog", () => {
  it("offers the three modes, the grantee, permissions and scope, all labelled", () => {
    const html = render(<ShareDialog chapter="c1" book="b1" open onClose={() => {}} />);
    for (const text of [
      "Copy",
      "Live (proxied)",
      "Live (direct)",
      "Share with (e-mail)",
      "Add sources",
      "Remove sources",
      "Edit sources",
      "Ask with your model",
      "Chat threads",
      "Loading shares",
    ]) {
      expect(html).toContain(text);
    }
    // The plan is not known yet: the free plan's tick is shown until the book loads.
    expect(html).toContain("every 10 minutes");
    expect(count(html, 'type="radio"')).toBe(3);
    expect(html).toMatch(/<legend>How<\/legend>/);
  });

  it("renders nothing inside while closed", () => {
    expect(render(<ShareDialog chapter="c1" book="b1" open={false} onClose={() => {}} />)).not.toContain(
      "Share with (e-mail)",
    );
  });
});

describe("shared chapters", () => {
  it("are marked live or copy", () => {
    expect(render(<SharedMark chapter={{ share: "s", forked_from: null }} />)).toContain("shared · live");
    expect(render(<SharedMark chapter={{ share: "s", forked_from: "c0" }} />)).toContain("shared · copy");
    expect(render(<SharedMark chapter={{ share: null, forked_from: null }} />)).toBe("");
  });
});

describe("screens", () => {
  it("the accept screen starts by finding out who is signed in", () => {
    const html = render(<AcceptScreen />, "/accept", "/accept");
    expect(html).toContain("Accept a shared chapter");
    expect(html).toContain("Loading");
  });

  it("the history screen starts loading the chapter", () => {
    const html = render(<HistoryScreen />, "/chapters/c1/history", "/chapters/:chapter/history");
    expect(html).toContain("Opening the chapter");
  });
});
