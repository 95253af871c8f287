import { describe, expect, it } from 'vitest';
import { MAX_RETENTION_DAYS } from './bindings';
import { addressList, retentionProblem } from './sources';

describe('source settings', () => {
  it('takes retention as whole days within bounds', () => {
    expect(retentionProblem('90')).toBeNull();
    expect(retentionProblem(' 1 ')).toBeNull();
    expect(retentionProblem('0')).not.toBeNull();
    expect(retentionProblem('3651')).not.toBeNull();
    expect(retentionProblem('9.5')).not.toBeNull();
    expect(retentionProblem('')).not.toBeNull();
    expect(retentionProblem(String(MAX_RETENTION_DAYS))).toBeNull();
    expect(retentionProblem(String(MAX_RETENTION_DAYS + 1))).toMatch(`from 1 to ${MAX_RETENTION_DAYS}`);
  });

  it('splits address lists on commas and spaces', () => {
    expect(addressList('integration, 192.0.2.1,,  10.0.0.1 ')).toEqual(['integration', '192.0.2.1', '10.0.0.1']);
    expect(addressList('  ')).toEqual([]);
  });
});
