import type { Reporter, TestModule } from 'vitest/node';

/**
 * CI reads a closing line `N passed, N failed, N skipped`; vitest's own summary
 * is not in a form it recognises, so print one after everything else.
 * Skipped tests are listed with their reason so a missing engine is never silent.
 */
export default class PlainLineReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    const skipNotes: string[] = [];
    for (const mod of testModules) {
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) failed += 1;
      for (const test of mod.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed += 1;
        else if (result.state === 'failed') failed += 1;
        else {
          skipped += 1;
          const note = result.state === 'skipped' ? result.note : undefined;
          if (note) skipNotes.push(`  skipped: ${test.fullName} (${note})`);
        }
      }
    }
    if (skipNotes.length > 0) process.stdout.write(`\n${skipNotes.join('\n')}\n`);
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
