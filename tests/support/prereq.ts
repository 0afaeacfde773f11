import { execFileSync } from 'node:child_process';

/**
 * Integration tests need real tools (docker, bwrap, sshd, mitmdump...).
 * Locally a missing tool skips the test with a reason that the reporter prints;
 * in CI (CI=true) a missing tool is a failure, because .ci/run must install it.
 */
export function missingTool(command: string, args: string[] = ['--version'], install = 'scripts/install-system-deps.sh'): string | undefined {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 10_000 });
    return undefined;
  } catch {
    const reason = `${command} is not available (run ${install})`;
    if (process.env.CI === 'true') throw new Error(`CI prerequisite missing: ${reason}`);
    return reason;
  }
}
