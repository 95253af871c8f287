// Views the window does not show at start are loaded when first shown: less script to
// parse and hold before the first paint and while the window sits idle on the live view.

import type { Component } from 'svelte';

export interface Lazy<P extends Record<string, unknown>> {
  /** The component once loaded (asking starts the load); `null` until then. */
  readonly component: Component<P> | null;
}

export function lazy<P extends Record<string, unknown>>(load: () => Promise<{ default: Component<P> }>): Lazy<P> {
  let loaded = $state.raw<Component<P> | null>(null);
  let started = false;
  return {
    get component() {
      if (!started) {
        started = true;
        load().then(
          (m) => (loaded = m.default),
          (e) => {
            // A chunk that cannot load is a broken install; say so where it will be seen.
            started = false;
            console.error('a view could not be loaded', e);
          },
        );
      }
      return loaded;
    },
  };
}
