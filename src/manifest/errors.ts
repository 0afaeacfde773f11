/**
 * A manifest problem, located. The message always names the file, and when
 * known the line, column and key, so the operator can jump straight to it.
 */
export interface ManifestLocation {
  file: string;
  line?: number;
  column?: number;
  /** Dotted key path, e.g. `egress.routes[0].dlp`. */
  key?: string;
}

export class ManifestError extends Error {
  override name = 'ManifestError';
  readonly location: ManifestLocation;
  readonly problem: string;
  readonly hint: string | undefined;

  constructor(location: ManifestLocation, problem: string, hint?: string) {
    super(formatManifestMessage(location, problem, hint));
    this.location = location;
    this.problem = problem;
    this.hint = hint;
  }
}

export function formatManifestMessage(loc: ManifestLocation, problem: string, hint?: string): string {
  const where = [loc.file, loc.line, loc.column].filter((p) => p !== undefined).join(':');
  const key = loc.key ? ` ${loc.key}:` : '';
  return `${where}:${key} ${problem}${hint ? `\n  hint: ${hint}` : ''}`;
}

/** Render a key path the way a person reads YAML: `egress.routes[0].host`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out.length === 0 ? String(part) : `.${String(part)}`;
  }
  return out;
}
