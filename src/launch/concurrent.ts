/**
 * Starting a backend's resources side by side without leaking one: each
 * undo is registered the moment its resource exists, and a failure waits for
 * the siblings still being created before it unwinds.
 */

/** Registers the undo the moment the resource exists (on the same tick as it resolves). */
export async function registered<T>(creating: Promise<T>, onCreated: (value: T) => void): Promise<T> {
  const value = await creating;
  onCreated(value);
  return value;
}

/**
 * Promise.all that waits for every step before failing: a step still
 * creating something when another failed would otherwise create it after
 * the teardown has run, and leave it behind.
 */
export async function settled<T extends readonly unknown[]>(steps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
