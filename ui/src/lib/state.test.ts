import { describe, expect, it } from 'vitest';
import { app, dismissToast, linkFormInHash, readHash, toast, writeHash } from './state.svelte';

describe('window state', () => {
  it('reads and writes the tab and open order in the hash', () => {
    expect(readHash('')).toEqual({ tab: 'live', order: null });
    expect(readHash('#orders')).toEqual({ tab: 'orders', order: null });
    expect(readHash('#settings&order=123456789012345678')).toEqual({ tab: 'settings', order: '123456789012345678' });
    expect(readHash('#nonsense&order=<script>')).toEqual({ tab: 'live', order: null });
    expect(writeHash('live', '123456789012345678')).toBe('#live&order=123456789012345678');
    expect(readHash(writeHash('orders', '42'))).toEqual({ tab: 'orders', order: '42' });
  });

  it('keeps the new payment link dialog in the hash', () => {
    expect(writeHash('live', null, true)).toBe('#live&new-link');
    expect(linkFormInHash('#live&new-link')).toBe(true);
    expect(linkFormInHash('#live')).toBe(false);
    expect(readHash('#orders&order=42&new-link')).toEqual({ tab: 'orders', order: '42' });
  });

  it('keeps a few toasts', () => {
    for (let i = 0; i < 6; i++) toast('info', `t${i}`);
    expect(app.toasts.map((t) => t.message)).toEqual(['t2', 't3', 't4', 't5']);
    dismissToast(app.toasts[0].id);
    expect(app.toasts).toHaveLength(3);
  });
});
