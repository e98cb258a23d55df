// The component set's own rules, rendered without a browser.
import { renderToString } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { Button } from "./ui";

describe("Button", () => {
  it("is disabled while busy, even when its caller says it may be clicked", () => {
    // A save button passes disabled={!changed}: while the save runs it must not be clickable.
    const html = renderToString(
      <Button busy disabled={false}>
        Save
      </Button>,
    );
    expect(html).toMatch(/<button[^>]* disabled=""/);
    expect(html).toContain('aria-busy="true"');
  });

  it("is enabled when neither busy nor disabled, and disabled when told", () => {
    expect(renderToString(<Button>Save</Button>)).not.toContain("disabled");
    expect(renderToString(<Button disabled>Save</Button>)).toMatch(/<button[^>]* disabled=""/);
  });
});
