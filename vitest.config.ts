import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'tests/**/*.test.tsx'],
    // Integration tests start real servers, sshd, git and sandboxes: give them room on 2 cores.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './tests/support/plain-line-reporter.ts'],
    pool: 'forks',
    // Tests reach only what they started: no connection ahead to a routed host (routes/preconnect.ts) unless a test asks.
    env: { BOT_BOTTLE_PRECONNECT: '0', BOT_BOTTLE_STANDBY: '0' },
  },
});
