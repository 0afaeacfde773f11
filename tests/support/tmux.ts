import { execFileSync } from 'node:child_process';

/**
 * A tmux server for terminal tests: the default one, or a socket of the
 * test's own (an exited CLI left as a zombie on a shared server under load).
 */
export function tmuxServer(socket?: string): {
  tmux: (...args: string[]) => string;
  waitFor: (session: string, text: string, limitMs?: number) => Promise<string>;
  waitForCount: (session: string, text: string, count: number, limitMs?: number) => Promise<string>;
} {
  const tmux = (...args: string[]): string => execFileSync('tmux', [...(socket ? ['-S', socket] : []), ...args], { encoding: 'utf8' });
  /** Poll the pane (bounded) until `text` shows up. */
  const waitFor = (session: string, text: string, limitMs = 20_000): Promise<string> => waitForCount(session, text, 1, limitMs);
  /** Poll the pane (bounded) until `text` shows up at least `count` times (e.g. a second prompt). */
  const waitForCount = async (session: string, text: string, count: number, limitMs = 20_000): Promise<string> => {
    const until = Date.now() + limitMs;
    let screen = '';
    while (Date.now() < until) {
      try {
        screen = tmux('capture-pane', '-p', '-t', session);
      } catch (err) {
        throw new Error(`the terminal went away while waiting for "${text}"; last screen:\n${screen}`, { cause: err });
      }
      if (screen.split(text).length - 1 >= count) return screen;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`"${text}" did not appear; screen:\n${screen}`);
  };
  return { tmux, waitFor, waitForCount };
}
