import type { LaunchHost } from './launch.js';
import type { TeardownStack } from './teardown.js';

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type StopSignal = keyof typeof SIGNAL_NUMBERS;

/**
 * What ends a bottle besides its agent: a stop signal to the launching CLI
 * (SIGTERM, e.g. from `bot-bottle stop`, and SIGHUP, in both modes; SIGINT
 * only headless, because while attached Ctrl-C belongs to the agent), or the
 * death of a part the bottle needs (its sidecar bundle). Either stops the
 * bottle at once, and the exit code says why: 128 + the signal's number, or
 * 125 when a part died.
 *
 * Listening starts before the backend launches, so a signal during start-up
 * is not lost (nor does it kill the CLI with its state left behind); it takes
 * effect once the launch has registered every undo.
 */
export class BottleEnd {
  private reason: { code: number; message: string } | undefined;
  private launched = false;
  private disposed = false;
  private readonly handlers = new Map<StopSignal, () => void>();

  constructor(
    private readonly slug: string,
    interactive: boolean,
    private readonly teardown: TeardownStack,
    private readonly ctx: Pick<LaunchHost, 'stderr'>,
  ) {
    for (const signal of Object.keys(SIGNAL_NUMBERS) as StopSignal[]) {
      // Ctrl-C on the attached terminal reaches this process too; it must neither kill nor stop us.
      const handler = interactive && signal === 'SIGINT' ? () => undefined : () => this.stop(128 + SIGNAL_NUMBERS[signal], `received ${signal}`);
      this.handlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  /** The bottle runs: act on a stop that arrived during start-up, and watch its parts. */
  watch(failed: Promise<string>): void {
    this.launched = true;
    if (this.reason) this.unwind();
    void failed.then((what) => this.stop(125, what));
  }

  /** The exit code a stop decided, if the bottle was stopped rather than ended by its agent. */
  get code(): number | undefined {
    return this.reason?.code;
  }

  dispose(): void {
    this.disposed = true;
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
  }

  private stop(code: number, why: string): void {
    if (this.reason || this.disposed) return;
    this.reason = { code, message: why };
    this.ctx.stderr(`bot-bottle: ${why}; stopping bottle ${this.slug}\n`);
    if (this.launched) this.unwind();
  }

  private unwind(): void {
    void this.teardown.unwind();
  }
}
