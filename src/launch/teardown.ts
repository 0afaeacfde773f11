/**
 * The undo log of a launch. Each resource registers its undo the moment it
 * exists; unwinding runs them in reverse. An undo that fails is reported and
 * the rest still run, and a failure during unwinding never replaces the
 * error that caused it.
 */
export interface TeardownFailure {
  label: string;
  error: unknown;
}

export class TeardownStack {
  private readonly undos: Array<{ label: string; fn: () => unknown }> = [];
  private unwound = false;
  private unwinding: Promise<TeardownFailure[]> | undefined;

  constructor(private readonly onFailure: (failure: TeardownFailure) => void = reportToStderr) {}

  /** Register an undo. Call it right after the resource exists. */
  defer(label: string, fn: () => unknown): void {
    if (this.unwound) throw new Error(`teardown already ran; cannot register "${label}"`);
    this.undos.push({ label, fn });
  }

  get size(): number {
    return this.undos.length;
  }

  /**
   * Run every undo in reverse order; returns the failures (also reported).
   * Concurrent calls (a signal handler and a `finally`) share one unwinding,
   * so every caller waits until everything is really undone.
   */
  unwind(): Promise<TeardownFailure[]> {
    this.unwinding ??= this.runUndos();
    return this.unwinding;
  }

  private async runUndos(): Promise<TeardownFailure[]> {
    this.unwound = true;
    const failures: TeardownFailure[] = [];
    while (this.undos.length > 0) {
      const undo = this.undos.pop();
      if (!undo) break;
      try {
        await undo.fn();
      } catch (error) {
        const failure = { label: undo.label, error };
        failures.push(failure);
        this.onFailure(failure);
      }
    }
    return failures;
  }

  /**
   * Run `body`; if it throws, unwind and rethrow the original error with the
   * teardown failures attached as `teardownFailures`. On success the stack is
   * left for the caller (a running bottle unwinds at its end).
   */
  async guard<T>(body: (stack: TeardownStack) => Promise<T>): Promise<T> {
    try {
      return await body(this);
    } catch (error) {
      const failures = await this.unwind();
      if (failures.length > 0 && typeof error === 'object' && error !== null) {
        Object.defineProperty(error, 'teardownFailures', { value: failures, enumerable: false });
      }
      throw error;
    }
  }
}

function reportToStderr(failure: TeardownFailure): void {
  const message = failure.error instanceof Error ? failure.error.message : String(failure.error);
  process.stderr.write(`bot-bottle: teardown step "${failure.label}" failed: ${message}\n`);
}
