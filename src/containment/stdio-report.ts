import type { Readable, Writable } from 'node:stream';

/** A report larger than this is not a report (the probe's own scan limit is 32 MB, base64 adds a third). */
export const MAX_REPORT_BYTES = 64 << 20;

/**
 * Finish a probe that talks over its stdio (`docker exec -i`, `smolvm machine
 * exec -i`): hand it its last spec line and read its one report line. Its
 * stderr (`stderrTail`) only explains a failure.
 */
export function readStdioReport(io: { stdin: Writable; stdout: Readable; exited: Promise<number | null>; stderrTail: () => string }, late: string): Promise<string> {
  const why = (): string => {
    const other = io.stderrTail();
    return other ? `: ${other.trim().slice(0, 500)}` : '';
  };
  return new Promise<string>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const nl = buffered.indexOf('\n');
      if (nl >= 0) {
        io.stdout.off('data', onData);
        const line = buffered.slice(0, nl);
        if (line.startsWith('{')) return resolve(line);
        if (line.startsWith('probe-error ')) return reject(new Error(`the probe failed: ${line.slice(12, 512)}`));
        return reject(new Error(`the probe answered ${JSON.stringify(line.slice(0, 200))}${why()}`));
      }
      if (buffered.length > MAX_REPORT_BYTES) reject(new Error(`the probe's report is over ${MAX_REPORT_BYTES} bytes`));
    };
    io.stdout.on('data', onData);
    void io.exited.then((code) => reject(new Error(`the probe exited (status ${code ?? '?'}) before it reported${why()}`)));
    io.stdin.end(`${late}\n`);
  });
}
