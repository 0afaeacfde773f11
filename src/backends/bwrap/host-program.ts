import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CliError } from '../../cli/context.js';

/**
 * The bwrap backend runs the agent's program from the host. Programs under
 * /usr are already visible; one installed elsewhere (e.g. ~/.local/bin) is
 * bound read-only into /opt/bot-bottle/bin.
 */
export function hostProgram(program: string, hostPath: string | undefined): { bind?: { src: string; dest: string }; guestDir?: string } {
  for (const dir of (hostPath ?? '').split(delimiter)) {
    if (dir.length === 0) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    const real = realpathSync(candidate);
    if (real.startsWith('/usr/')) return {};
    return { bind: { src: real, dest: `/opt/bot-bottle/bin/${program}` }, guestDir: '/opt/bot-bottle/bin' };
  }
  const hint =
    program === 'claude' ? 'install Claude Code on the host (npm install -g @anthropic-ai/claude-code)' : program === 'codex' ? 'install Codex on the host (npm install -g @openai/codex)' : `install ${program} on the host`;
  throw new CliError(`the bwrap backend runs the agent's program from the host, but "${program}" is not on PATH: ${hint}`);
}
