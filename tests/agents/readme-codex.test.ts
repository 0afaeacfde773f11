import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codexPrereqMissing, codexWorld, filesContaining, type CodexWorld } from './codex-support.js';
import { lastUserText, toolOutputs, type ModelScript } from './fake-openai.js';

/**
 * The README's Codex lines as written: the example `codex` bottle and agent
 * from `init --examples`, the key in BOT_BOTTLE_OPENAI_API_KEY, and
 * `start codex --headless --prompt 'write hello.txt saying hi'`.
 */
const missing = codexPrereqMissing();

const script: ModelScript = (call) => {
  const prompt = lastUserText(call.input);
  const outputs = [...toolOutputs(call.input).values()];
  if (prompt.startsWith('write hello.txt') && outputs.length === 0) {
    return [{ type: 'function_call', name: 'exec_command', arguments: { cmd: "printf 'hi\\n' > hello.txt && pwd" } }];
  }
  return [{ type: 'message', text: `DONE ${outputs[0]?.includes('/workspace') ? 'in /workspace' : 'elsewhere'}` }];
};

describe.skipIf(missing)("README's Codex quick start (example bottle and agent)", () => {
  let w: CodexWorld;

  beforeAll(async () => {
    w = await codexWorld(script);
  }, 60_000);

  afterAll(async () => {
    await w?.close();
  });

  it('`start codex --headless --prompt` writes the file into the bottle\'s workspace, with the key only on the wire', async () => {
    const init = await w.cli(['init', '--examples']);
    expect(init.exitCode, init.stderr).toBe(0);
    const run = await w.cli(['start', 'codex', '--headless', '--prompt', 'write hello.txt saying hi'], { env: { BOT_BOTTLE_OPENAI_API_KEY: w.key } });
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('DONE in /workspace');
    const slug = w.slugs().at(-1) ?? '';
    const file = join(w.h.home, 'state', slug, 'workspace', 'hello.txt');
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('hi\n');
    expect(w.fake.calls.some((c) => c.headers.authorization === `Bearer ${w.key}`)).toBe(true);
    expect(filesContaining(w.stateDir(slug), w.key)).toEqual([]);
    expect(run.stderr).toContain(`bot-bottle resume ${slug}`);
  }, 120_000);
});
