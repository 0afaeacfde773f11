import { describe, expect, it } from 'vitest';
import { TeardownStack, type TeardownFailure } from '../../src/launch/teardown.js';

describe('TeardownStack', () => {
  it('unwinds in reverse order of registration', async () => {
    const order: string[] = [];
    const stack = new TeardownStack();
    stack.defer('network', () => order.push('network'));
    stack.defer('sidecars', async () => {
      await Promise.resolve();
      order.push('sidecars');
    });
    stack.defer('sandbox', () => order.push('sandbox'));
    expect(await stack.unwind()).toEqual([]);
    expect(order).toEqual(['sandbox', 'sidecars', 'network']);
  });

  it('on failure unwinds everything created so far and rethrows the original error', async () => {
    const undone: string[] = [];
    const stack = new TeardownStack();
    const original = new Error('sandbox failed to start');
    await expect(
      stack.guard(async (s) => {
        s.defer('a', () => undone.push('a'));
        s.defer('b', () => undone.push('b'));
        await Promise.resolve();
        throw original;
      }),
    ).rejects.toBe(original);
    expect(undone).toEqual(['b', 'a']);
  });

  it('a failing undo is reported, the others still run, and it never hides the original error', async () => {
    const reported: TeardownFailure[] = [];
    const undone: string[] = [];
    const stack = new TeardownStack((f) => reported.push(f));
    const original = new Error('launch broke');
    const caught = await stack
      .guard((s) => {
        s.defer('first', () => undone.push('first'));
        s.defer('flaky', () => {
          throw new Error('cannot remove network');
        });
        s.defer('last', () => undone.push('last'));
        return Promise.reject(original);
      })
      .catch((err: unknown) => err);
    expect(caught).toBe(original);
    expect(undone).toEqual(['last', 'first']);
    expect(reported.map((r) => r.label)).toEqual(['flaky']);
    expect((caught as { teardownFailures?: TeardownFailure[] }).teardownFailures?.[0]?.label).toBe('flaky');
  });

  it('returns the body result and keeps resources on success; refuses registration after unwinding', async () => {
    const stack = new TeardownStack();
    let undone = false;
    const value = await stack.guard((s) => {
      s.defer('x', () => (undone = true));
      return Promise.resolve(42);
    });
    expect(value).toBe(42);
    expect(undone).toBe(false);
    expect(stack.size).toBe(1);
    await stack.unwind();
    expect(undone).toBe(true);
    expect(() => stack.defer('late', () => undefined)).toThrow(/teardown already ran/);
  });
});

describe('concurrent unwinding', () => {
  it('a second unwind waits for the first instead of returning early', async () => {
    const stack = new TeardownStack();
    let release: () => void = () => undefined;
    let done = false;
    stack.defer('slow', () => new Promise<void>((r) => (release = r)).then(() => (done = true)));
    const first = stack.unwind();
    const second = stack.unwind();
    let secondSettled = false;
    void second.then(() => (secondSettled = true));
    await Promise.resolve();
    expect(secondSettled).toBe(false);
    release();
    await Promise.all([first, second]);
    expect(done).toBe(true);
  });
});
