import { describeControl, isControl } from '../manifest/control-chars.js';
import { CliError } from './context.js';

/**
 * Read a secret from the terminal without echoing it. Backspace edits,
 * Enter finishes, Ctrl-C / Ctrl-D abort (the value never appears on screen).
 */
export function askSecret(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(question);
    const wasRaw = input.isRaw;
    input.setRawMode(true);
    input.resume();
    let value = '';
    const finish = (error?: Error): void => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new CliError('secret entry aborted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        // Dropping a control character (or keeping the rest of an arrow key's escape sequence) would
        // silently change the secret, and a NUL must never reach the sandbox's arguments: refuse instead.
        else if (isControl(ch.charCodeAt(0))) return finish(new CliError(`secret entry refused: a control character (${describeControl(ch.charCodeAt(0))}) was typed or pasted; enter the value again`));
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}
