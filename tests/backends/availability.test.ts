import { describe, expect, it } from 'vitest';
import { bwrapBackend } from '../../src/backends/bwrap/index.js';
import { smolmachinesBackend } from '../../src/backends/smolmachines/index.js';
import { missingTool } from '../support/prereq.js';

describe('real availability probes', () => {
  const noBwrap = missingTool('bwrap');
  it.skipIf(noBwrap)('bwrap is available here, with unprivileged user namespaces', async () => {
    const a = await bwrapBackend().availability();
    expect(a.reason).toBe('bubblewrap with unprivileged user namespaces');
    expect(a.available).toBe(true);
  });

  it('smolmachines reports smolvm missing (it cannot be installed on these machines)', async () => {
    const a = await smolmachinesBackend().availability();
    expect(a.available).toBe(false);
    expect(a.reason).toMatch(/^smolvm is not on PATH \(install or update smolvm with its installer .*or use --backend docker\)/);
  });
});
