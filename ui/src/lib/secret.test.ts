import { describe, expect, it } from 'vitest';
import { SECRET_MAX_LEN, SECRET_MIN_LEN } from './bindings';
import { customUrlProblem, generateSecret, optionalUrlProblem, portProblem, secretProblem } from './secret';

describe('webhook secret', () => {
  it('makes 24 URL-safe characters that pass the listener’s rule', () => {
    for (let i = 0; i < 50; i++) {
      const s = generateSecret();
      expect(s).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(secretProblem(s)).toBeNull();
    }
  });

  it('maps every byte value to the alphabet', () => {
    const all = generateSecret(256, (b) => b.map((_, i) => i));
    expect(new Set(all).size).toBe(64);
  });

  it('takes the listener’s lengths, from the Rust side', () => {
    expect(secretProblem('a'.repeat(SECRET_MIN_LEN))).toBeNull();
    expect(secretProblem('a'.repeat(SECRET_MAX_LEN))).toBeNull();
    expect(secretProblem('a'.repeat(SECRET_MIN_LEN - 1))).toMatch(`${SECRET_MIN_LEN} to ${SECRET_MAX_LEN}`);
    expect(secretProblem('a'.repeat(SECRET_MAX_LEN + 1))).not.toBeNull();
  });

  it('allows plain http only to a gateway on this computer', () => {
    expect(customUrlProblem('http://[::1]:8788')).toBeNull();
    expect(customUrlProblem('http://127.9.8.7')).toBeNull();
    expect(customUrlProblem('http://128.0.0.1')).toMatch(/https:\/\//);
    expect(customUrlProblem('http://localhost.example.com')).toMatch(/https:\/\//);
    expect(customUrlProblem('gateway.example.com')).toMatch(/not a valid URL/);
  });

  it('checks what the owner types', () => {
    expect(secretProblem('')).toBeNull();
    expect(secretProblem('short')).toMatch(/16 to 128/);
    expect(secretProblem('has space in it ok!')).toMatch(/only letters/);
    expect(portProblem('8787')).toBeNull();
    expect(portProblem('0')).not.toBeNull();
    expect(portProblem('70000')).not.toBeNull();
    expect(portProblem('12a')).not.toBeNull();
    expect(customUrlProblem('https://gw.example.com')).toBeNull();
    expect(customUrlProblem('')).not.toBeNull();
    expect(customUrlProblem('ftp://x')).not.toBeNull();
    expect(customUrlProblem('http://gw.example.com')).not.toBeNull();
    expect(customUrlProblem('http://127.0.0.1:8788')).toBeNull();
    expect(customUrlProblem('http://localhost:8788')).toBeNull();
    expect(optionalUrlProblem('')).toBeNull();
    expect(optionalUrlProblem('https://shop.example/thanks')).toBeNull();
    expect(optionalUrlProblem('shop.example/thanks')).not.toBeNull();
  });
});
