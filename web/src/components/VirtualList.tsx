// A list that renders only the rows in view (and a few around them), so a chapter with a
// thousand sources or a thread of five hundred messages scrolls as smoothly as one with ten.
// Rows may differ in height: each is measured once rendered. The list is its own scroll box
// (max-height from CSS), and tells assistive technology each row's position in the whole.
import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useEffect, useRef, type ReactNode } from "react";

// A row's content renders again only when its item, its place or the render function change: a
// scroll re-renders the list (positions) but not the rows that stay in view.
const RowContent = memo(function RowContent({
  item,
  index,
  render,
}: {
  item: unknown;
  index: number;
  render: (item: unknown, index: number) => ReactNode;
}) {
  return <>{render(item, index)}</>;
});

export function VirtualList<T>({
  items,
  getKey,
  estimateSize,
  children,
  label,
  className = "",
  stickToEnd = false,
  onEndReached,
}: {
  items: T[];
  getKey: (item: T, index: number) => string | number;
  /** A typical row's height in px (rows are measured; this only places unmeasured ones). */
  estimateSize: number;
  children: (item: T, index: number) => ReactNode;
  label: string;
  className?: string;
  /** Follow the end as rows are added (a chat), unless the reader scrolled up. */
  stickToEnd?: boolean;
  /** Called when the last row comes into view (load the next page). */
  onEndReached?: () => void;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const atEnd = useRef(true);
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => estimateSize,
    getItemKey: (index) => getKey(items[index]!, index),
    overscan: 8,
    // Let React batch a scroll's re-render into the next frame instead of forcing it at once.
    useFlushSync: false,
    // Before the first measurement (and when rendered without a browser) show a screenful.
    initialRect: { width: 0, height: 800 },
  });
  const rows = virtualizer.getVirtualItems();
  const last = rows.length ? rows[rows.length - 1]!.index : -1;

  useEffect(() => {
    if (onEndReached && items.length > 0 && last >= items.length - 1) onEndReached();
  }, [last, items.length, onEndReached]);

  // A new row, or the last one growing (an answer streaming in), keeps a reader who was at the
  // end there; one who scrolled up to read stays put.
  const total = virtualizer.getTotalSize();
  useEffect(() => {
    if (stickToEnd && atEnd.current && items.length > 0) {
      virtualizer.scrollToIndex(items.length - 1, { align: "end" });
    }
  }, [stickToEnd, items.length, total, virtualizer]);

  return (
    <div
      ref={scroller}
      className={`vlist ${className}`}
      onScroll={(e) => {
        const el = e.currentTarget;
        atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
      }}
    >
      <div role="list" aria-label={label} className="vlist-inner" style={{ height: total }}>
        {rows.map((row) => (
          <div
            key={row.key}
            role="listitem"
            aria-setsize={items.length}
            aria-posinset={row.index + 1}
            data-index={row.index}
            ref={virtualizer.measureElement}
            className="vlist-row"
            style={{ transform: `translateY(${row.start}px)` }}
          >
            <RowContent
              item={items[row.index]}
              index={row.index}
              render={children as (item: unknown, index: number) => ReactNode}
            />
          </div>
        ))}
      </div>
    </div>
  );
}
