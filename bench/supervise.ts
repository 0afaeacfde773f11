// `npm run bench:supervise`: what the approval plane costs on this machine.
// Everything is in-process on 127.0.0.1 and a temp $BOT_BOTTLE_HOME that is removed at the end.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startSupervise } from '../src/sidecars/supervise/index.js';
import { decide } from '../src/supervise/decide.js';
import { ProposalQueue, listAllPending } from '../src/supervise/queue.js';
import { bottleStatePaths, homePaths, queueDir } from '../src/state/paths.js';

const REPS = Number(process.env.BENCH_REPS ?? 30);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (x: number): string => `${x.toFixed(2)} ms`;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const home = await mkdtemp(join(tmpdir(), 'bench-supervise-'));
try {
  const slug = 'bench';
  await mkdir(bottleStatePaths(slug, home).dir, { recursive: true });
  await writeFile(bottleStatePaths(slug, home).egressRoutes, '[]');
  const q = new ProposalQueue(queueDir(slug, home), slug);

  // 1. Queue primitives.
  const submit: number[] = [];
  const wake: number[] = [];
  const answerApply: number[] = [];
  for (let i = 0; i < REPS; i++) {
    let id = '';
    submit.push(await time(async () => (id = (await q.submit('egress-block', { host: `h${i}.example.com`, reason: 'bench' }, { timeoutMs: 60_000 })).id)));
    let wokeAt = 0;
    const waiting = q.wait(id, { timeoutMs: 10_000 }).then(() => (wokeAt = performance.now()));
    await sleep(5);
    const answerStart = performance.now();
    answerApply.push(await time(() => decide(home, id, { status: 'approved' }, 'operator:bench')));
    await waiting;
    wake.push(wokeAt - answerStart);
  }
  console.log(`queue submit (atomic write + audit)          median ${ms(median(submit))}`);
  console.log(`decide approve (exclusive answer + route)    median ${ms(median(answerApply))}`);
  console.log(`operator answers -> waiter has it (fs.watch) median ${ms(median(wake))}  (poll-only fallback averages 250 ms: ${(250 / median(wake)).toFixed(0)}x slower)`);

  // 2. MCP over streamable HTTP with the SDK client.
  const handle = await startSupervise(
    { listen: { host: '127.0.0.1', port: 0 }, queueDir: queueDir(slug, home), routesFile: bottleStatePaths(slug, home).egressRoutes },
    { bottle: slug, log: () => undefined },
  );
  try {
    const connect: number[] = [];
    const list: number[] = [];
    const roundTrip: number[] = [];
    for (let i = 0; i < Math.min(REPS, 15); i++) {
      const fresh = new Client({ name: 'bench', version: '1' });
      connect.push(await time(() => fresh.connect(new StreamableHTTPClientTransport(new URL(handle.url)))));
      await fresh.close();
    }
    // One warm client, as an agent session has: the SDK client compiles output schemas on first use.
    const client = new Client({ name: 'bench', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(handle.url)));
    await client.listTools();
    for (let i = 0; i < REPS; i++) {
      list.push(await time(() => client.callTool({ name: 'list-egress-routes', arguments: {} })));
      // Full ask: tool call -> proposal file -> operator (bounded poll here) -> answer + apply -> tool result.
      roundTrip.push(
        await time(async () => {
          const call = client.callTool({ name: 'egress-block', arguments: { host: `rt${i}.example.com`, reason: 'bench' } });
          for (let n = 0; n < 1000; n++) {
            const [p] = await listAllPending(homePaths(home).queueRoot);
            if (p) {
              await decide(home, p.id, { status: 'approved' }, 'operator:bench');
              break;
            }
            await sleep(1);
          }
          await call;
        }),
      );
    }
    await client.close();
    console.log(`MCP connect (initialize)                     median ${ms(median(connect))}`);
    console.log(`MCP list-egress-routes                       median ${ms(median(list))}`);
    console.log(`MCP egress-block ask -> approve -> result    median ${ms(median(roundTrip))}`);
  } finally {
    await handle.close();
  }

  // 3. Console listing at scale.
  const big = new ProposalQueue(queueDir('big', home), 'big');
  for (let i = 0; i < 1000; i++) await big.submit('capability-block', { change: `pkg${i}`, reason: 'bench' });
  const listing: number[] = [];
  for (let i = 0; i < 5; i++) listing.push(await time(() => listAllPending(homePaths(home).queueRoot)));
  console.log(`list pending, 1000 proposals (--once --json) median ${ms(median(listing))}`);
} finally {
  await rm(home, { recursive: true, force: true });
}
