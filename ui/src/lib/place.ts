// Keeping the owner's place in a list that grows at the top: the first row in view stays
// where it was on screen when rows arrive above it (WebKit has no CSS scroll anchoring).

import { tick } from 'svelte';

export interface Anchor {
  key: string;
  top: number;
}

/** How far to scroll so the anchor row is where it was; 0 when it is gone. */
export function placeShift(anchor: Anchor | null, topNow: number | null): number {
  if (!anchor || topNow === null) return 0;
  return topNow - anchor.top;
}

function scroller(el: HTMLElement): HTMLElement {
  for (let p: HTMLElement | null = el; p; p = p.parentElement) {
    const style = getComputedStyle(p);
    if (/(auto|scroll)/.test(style.overflowY) && p.scrollHeight > p.clientHeight) return p;
  }
  return (document.scrollingElement as HTMLElement | null) ?? document.documentElement;
}

/**
 * Runs `change` (which may add rows above) and then scrolls so the first row in view (rows
 * are `[data-job-ref]` inside `list`) stays put. At the very top nothing is held: the
 * owner sees the new payment.
 */
export async function keepPlace(list: HTMLElement | undefined, change: () => void): Promise<void> {
  if (!list) {
    change();
    return;
  }
  const box = scroller(list);
  if (box.scrollTop <= 0) {
    change();
    return;
  }
  const view = box.getBoundingClientRect();
  let anchor: Anchor | null = null;
  for (const row of list.querySelectorAll<HTMLElement>('[data-job-ref]')) {
    const r = row.getBoundingClientRect();
    if (r.bottom > view.top) {
      anchor = { key: row.dataset.jobRef ?? '', top: r.top };
      break;
    }
  }
  change();
  await tick();
  if (!anchor) return;
  const again = [...list.querySelectorAll<HTMLElement>('[data-job-ref]')].find((r) => r.dataset.jobRef === anchor.key);
  box.scrollTop += placeShift(anchor, again ? again.getBoundingClientRect().top : null);
}
