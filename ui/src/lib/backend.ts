// The backend the window talks to: Tauri's commands and events, or (in a plain browser,
// and in tests) a stand-in with the same shape. api.ts uses it; nothing here knows the
// commands, so the stand-ins can import this without importing api.ts.

import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';

export type Unlisten = () => void;

/** What api.ts needs of a backend: Tauri's, or a stand-in's. */
export interface Backend {
  invoke<T>(command: string, args?: Record<string, unknown>): Promise<T>;
  listen<T>(event: string, handler: (payload: T) => void): Promise<Unlisten>;
}

declare global {
  interface Window {
    __TAURI_INTERNALS__?: unknown;
  }
}

export function inTauri(): boolean {
  return typeof window !== 'undefined' && window.__TAURI_INTERNALS__ !== undefined;
}

export const tauriBackend: Backend = {
  invoke: <T>(command: string, args?: Record<string, unknown>) => tauriInvoke<T>(command, args),
  listen: <T>(event: string, handler: (payload: T) => void) => tauriListen<T>(event, (e) => handler(e.payload)),
};
