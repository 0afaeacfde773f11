import { randomBytes } from 'node:crypto';
import { docker } from '../../src/backends/docker/cli.js';
import { ensureSidecarsImage } from '../../src/backends/docker/images.js';
import { EGRESS_NETWORK_ENV, networkGateways, removeNetwork } from '../../src/backends/docker/network.js';
import { RUNTIME_ENV, type DockerRuntime } from '../../src/backends/docker/runtime.js';
import { missingOfflineBase, missingRunsc, OFFLINE_BUILD } from './docker.js';
import { missingTool } from './prereq.js';
import { quiet } from './docker-bottle.js';

/**
 * Fake upstream APIs for docker bottles: a network the test owns (the
 * bottle's bundle joins it as its outside leg, BOT_BOTTLE_DOCKER_EGRESS_NETWORK)
 * and, on it, one relay container per API that forwards TCP port 443 to a
 * fake running in the test process. The scripted model stays a callback in
 * the test; the bundle reaches "api.anthropic.com:443" at the relay's address
 * (BOT_BOTTLE_RESOLVE), as it would reach a real upstream.
 *
 * The relay reaches the test process at the host's address on this network
 * (its bridge gateway). That is a leg of the test's own network, never of a
 * bottle's internal one: the agent container is on the internal network only,
 * whose bridge the per-bottle firewall rule cuts off from every host address
 * (the containment self-test checks that on every launch).
 */
export interface DockerUpstream {
  /** The network's name: BOT_BOTTLE_DOCKER_EGRESS_NETWORK. */
  network: string;
  /** The host's address on the network, where a fake in the test process listens for its relay. */
  hostAddress: string;
  /** Starts a relay container from its port 443 to `hostAddress:port`; resolves with the relay's address on the network. */
  relay(port: number): Promise<string>;
  close(): Promise<void>;
}

export const UPSTREAM_LABEL = 'bot-bottle.test=upstream';

/** Forwards every connection on :443 to HOST:PORT (argv), bytes only: TLS ends in the test's fake. */
const RELAY = [
  "const net=require('net');const [host,port]=process.argv.slice(1);",
  'net.createServer((c)=>{const u=net.connect(Number(port),host);c.pipe(u);u.pipe(c);',
  "c.on('error',()=>u.destroy());u.on('error',()=>c.destroy());}).listen(443,()=>console.log('relay-ready'));",
].join('');

export async function startDockerUpstream(): Promise<DockerUpstream> {
  const image = await ensureSidecarsImage(quiet);
  const network = `bbtest-up-${randomBytes(4).toString('hex')}`;
  await docker(['network', 'create', '--label', UPSTREAM_LABEL, network]);
  const relays: string[] = [];
  const close = async (): Promise<void> => {
    for (const id of relays) await docker(['rm', '--force', id]).catch(() => undefined);
    await removeNetwork(network);
  };
  try {
    const hostAddress = (await networkGateways(network))[0];
    if (hostAddress === undefined) throw new Error(`network ${network} has no IPv4 gateway`);
    return {
      network,
      hostAddress,
      relay: async (port) => {
        const id = await docker(['run', '--detach', '--rm', '--network', network, '--label', UPSTREAM_LABEL, image.id, 'node', '-e', RELAY, hostAddress, String(port)]);
        relays.push(id);
        await listening(id);
        const address = await docker(['inspect', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, id]);
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) throw new Error(`relay ${id.slice(0, 12)} has no address on ${network} (got "${address}")`);
        return address;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Waits (bounded) until the relay says it listens, so the first request never meets a closed port. */
async function listening(id: string): Promise<void> {
  const until = Date.now() + 30_000;
  let logs = '';
  while (Date.now() < until) {
    logs = await docker(['logs', id]).catch((e: unknown) => String(e));
    if (logs.includes('relay-ready')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`relay ${id.slice(0, 12)} did not start listening: ${logs}`);
}

/** The CLI's environment for a docker bottle whose bundle joins `up`, under `runtime`, with images built on the offline base. */
export function dockerBottleEnv(up: DockerUpstream, runtime: DockerRuntime): Record<string, string> {
  return { BOT_BOTTLE_BACKEND: 'docker', [EGRESS_NETWORK_ENV]: up.network, [RUNTIME_ENV]: runtime, ...OFFLINE_BUILD.env };
}

/**
 * What a real agent in a docker bottle needs: the engine with the offline
 * base (and gVisor for runsc), the agent program on the host (its image is
 * built from that install; none for `shell`), and root for the bottle's host
 * firewall rule. Locally a missing piece skips with the reason; in CI it fails.
 */
export function dockerAgentMissing(runtime: DockerRuntime, program?: 'claude' | 'codex'): string | undefined {
  const root = (): string | undefined => {
    if (process.getuid?.() === 0) return undefined;
    const reason = "the docker backend adds a host firewall rule for the bottle's bridge, which needs root";
    if (process.env.CI === 'true') throw new Error(`CI prerequisite missing: ${reason}`);
    return reason;
  };
  return (
    missingOfflineBase() ??
    (runtime === 'runsc' ? missingRunsc() : undefined) ??
    (program === undefined ? undefined : missingTool(program, ['--version'], 'scripts/install-agents.sh')) ??
    root()
  );
}
