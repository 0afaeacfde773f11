/**
 * The three forms an `env` value can take. Only literals carry their value
 * into a plan; the other two are resolved at launch and passed to the agent
 * process through its environment, never argv, files or logs.
 */
export type EnvEntry =
  | { name: string; kind: 'literal'; value: string }
  | { name: string; kind: 'prompt'; prompt: string }
  | { name: string; kind: 'host'; hostVar: string };

const HOST_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

export function classifyEnv(name: string, raw: string): EnvEntry {
  if (raw.startsWith('?')) {
    const prompt = raw.slice(1).trim();
    return { name, kind: 'prompt', prompt: prompt.length > 0 ? prompt : `value for ${name}` };
  }
  const ref = HOST_REF.exec(raw);
  if (ref?.[1]) return { name, kind: 'host', hostVar: ref[1] };
  return { name, kind: 'literal', value: raw };
}

