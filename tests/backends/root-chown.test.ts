import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBottleCli } from '../support/bottle-run.js';
import { tempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';

/**
 * As root, each launch hands the workspace to the sandbox uid. The workspace
 * is the agent's: a symlink it planted there must be handed over itself,
 * never the host file it points at.
 */
const notRoot = process.getuid?.() === 0 ? undefined : 'needs root (the sandbox uid hand-over only happens for a root operator)';

describe.skipIf(missingTool('bwrap') ?? missingTool('socat', ['-V']) ?? notRoot)('root launch: workspace hand-over', () => {
  it('does not follow a symlink the agent planted in its workspace', async () => {
    const h = tempHome();
    try {
      const hostFile = h.write('operator-only.txt', 'root owns this\n');
      h.writeBottle('b', 'agent_provider: {template: shell}');
      h.writeAgent('a', 'bottle: b');
      const env = { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap' };
      const first = await runBottleCli(['start', 'a', '--headless', '--prompt', `ln -s ${hostFile} /workspace/planted`], { cwd: h.cwd, env });
      expect(first.exitCode, first.stderr).toBe(0);
      const slug = readdirSync(join(h.home, 'state'))[0] ?? '';
      // The next launch of the same bottle hands the workspace over again.
      const again = await runBottleCli(['resume', slug, '--headless', '--prompt', 'true'], { cwd: h.cwd, env });
      expect(again.exitCode, again.stderr).toBe(0);
      expect(statSync(hostFile).uid).toBe(0);
    } finally {
      h.cleanup();
    }
  });
});
