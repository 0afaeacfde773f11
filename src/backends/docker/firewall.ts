import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { isSlug } from '../../plan/slug.js';
import { onPath } from '../probe.js';
import { DockerError } from './cli.js';
import { isBridgeName, SLUG_LABEL } from './names.js';

/**
 * Docker's `--internal` only filters forwarded traffic: a container on an
 * internal network still has a route to its bridge's gateway, and whatever
 * it sends to any address of the host itself (the gateway, another bridge,
 * a service on 0.0.0.0) goes through INPUT, which Docker leaves open. A
 * rule per address family closes that: everything that enters the host from
 * the bottle's internal bridge is refused (TCP by a reset, from a second rule
 * above it; the rest by ICMP). Traffic between the agent and the
 * bundle is bridged, never addressed to the host, so it is not affected.
 */

export type Family = 'ipv4' | 'ipv6';

export interface FirewallRule {
  family: Family;
  bridge: string;
  slug: string;
  /**
   * REJECT (what launches add): the host answers "refused" at once, so the
   * containment self-test's attempts at its addresses end without waiting out
   * their limit; the probe's canaries still prove nothing arrived. DROP: rules
   * from earlier versions, found and removed by `cleanup`.
   */
  target: 'REJECT' | 'DROP';
  /**
   * `tcp`: the REJECT rule's companion above it, answering TCP with a reset
   * instead of ICMP. The kernel rate-limits the ICMP errors it sends to one
   * address (a burst of 6, then one a second), so with both kinds of attempt
   * at every host address the probe's last UDP attempts met silence and
   * waited out their limit; resets are not ICMP and are not limited.
   */
  proto?: 'tcp';
}

const TOOL: Record<Family, string> = { ipv4: 'iptables', ipv6: 'ip6tables' };

/** Whether the kernel has IPv6 at all (then a bridge can carry it, link-local at least, and needs its rule too). */
function kernelHasIpv6(): boolean {
  return existsSync('/proc/sys/net/ipv6/conf');
}

function families(): Family[] {
  return kernelHasIpv6() ? ['ipv4', 'ipv6'] : ['ipv4'];
}

function ruleArgs(rule: FirewallRule): string[] {
  const tcp = rule.proto === 'tcp';
  return ['INPUT', '-i', rule.bridge, ...(tcp ? ['-p', 'tcp'] : []), '-m', 'comment', '--comment', `${SLUG_LABEL}=${rule.slug}`, '-j', rule.target, ...(tcp ? ['--reject-with', 'tcp-reset'] : [])];
}

async function xtables(family: Family, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  // -w: wait for the xtables lock instead of failing while dockerd edits its own chains.
  const result = await execa(TOOL[family], ['-w', '10', ...args], { reject: false, stdin: 'ignore', extendEnv: false, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, timeout: 30_000 });
  return { ok: result.exitCode === 0 && !result.failed, stdout: result.stdout, stderr: result.stderr.trim() };
}

/**
 * Can this process add the host rule? Asked before anything is created, so a
 * launch that cannot be contained stops with the reason instead of running
 * a bottle that reaches the host.
 */
export async function hostFirewallSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const refuse = (why: string): { ok: false; reason: string } => ({
    ok: false,
    reason: `${why}. The docker backend adds a host firewall rule so the bottle's internal network reaches nothing on this machine, and it does not launch without it`,
  });
  const basic = basicSupport();
  if (!basic.ok) return refuse(basic.reason);
  for (const family of families()) {
    const probe = await xtables(family, ['-S', 'INPUT']);
    if (!probe.ok) return refuse(`${TOOL[family]} cannot read the INPUT chain: ${probe.stderr || 'unknown error'}`);
  }
  return { ok: true };
}

/** What needs no run of iptables: Linux, root, the tools installed. */
function basicSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `the host firewall rule needs Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'adding a host firewall rule (iptables) needs root: run bot-bottle as root or use the bwrap backend' };
  for (const family of families()) {
    if (!onPath(TOOL[family])) return { ok: false, reason: `${TOOL[family]} is not installed (scripts/install-system-deps.sh installs it)` };
  }
  return { ok: true };
}

/**
 * Drop everything that enters the host from `bridge` (iptables, and
 * ip6tables when the kernel has IPv6). Refuses unless the bridge is an
 * interface of this machine: with a remote engine or Docker Desktop the
 * bridge lives elsewhere and a rule here would protect nothing. Resolves
 * with the undo; on failure nothing is left behind.
 */
export async function blockBridgeToHost(slug: string, bridge: string, opts: { beforeBridgeExists?: boolean } = {}): Promise<{ rules: FirewallRule[]; undo: () => Promise<void> }> {
  if (!isSlug(slug) || !isBridgeName(bridge)) throw new DockerError(`refusing a firewall rule for "${bridge}" of "${slug}": not a bot-bottle bridge`);
  // The chain was read when the backend was chosen (hostFirewallSupport); an insert that fails now says why.
  const support = basicSupport();
  if (!support.ok) throw new DockerError(`${support.reason}. The docker backend adds a host firewall rule so the bottle's internal network reaches nothing on this machine, and it does not launch without it`);
  // `beforeBridgeExists`: the launch adds the rule while the engine creates the network (the bridge's name is
  // ours, so the rule can name it first) and calls assertLocalBridge once the network exists.
  if (opts.beforeBridgeExists !== true) assertLocalBridge(bridge);
  const added: FirewallRule[] = [];
  const undo = async (): Promise<void> => {
    const failures: string[] = [];
    for (const rule of [...added].reverse()) {
      try {
        await removeFirewallRule(rule);
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
    if (failures.length > 0) throw new DockerError(failures.join('; '));
  };
  // The families side by side (the bundle's start waits for the rules); within one, each rule inserted at the
  // top, so the TCP one ends above the one that refuses everything.
  const insertFamily = async (family: Family): Promise<void> => {
    for (const rule of [{ family, bridge, slug, target: 'REJECT' }, { family, bridge, slug, target: 'REJECT', proto: 'tcp' }] satisfies FirewallRule[]) {
      const insert = await xtables(family, ['-I', ...ruleArgs(rule)]);
      if (!insert.ok) throw new DockerError(`${TOOL[family]} could not add the rule that keeps ${bridge} off the host: ${insert.stderr}`);
      added.push(rule);
      // Read it back: a wrapper or a policy that accepts the command but not the rule must not pass.
      const check = await xtables(family, ['-C', ...ruleArgs(rule)]);
      if (!check.ok) throw new DockerError(`${TOOL[family]} accepted the rule for ${bridge} but does not list it: the host firewall cannot be enforced`);
    }
  };
  // Every family settled before an undo, so none adds a rule after it.
  const failed = (await Promise.allSettled(families().map(insertFamily))).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await undo().catch(() => undefined);
    throw failed.reason;
  }
  // As `listFirewallRules` finds them: per family, top first.
  return { rules: families().flatMap((family) => added.filter((r) => r.family === family).reverse()), undo };
}

/** The rules `blockBridgeToHost` adds for a bridge, as `listFirewallRules` would find them. */
export function hostRules(slug: string, bridge: string): FirewallRule[] {
  return families().flatMap((family): FirewallRule[] => [
    { family, bridge, slug, target: 'REJECT', proto: 'tcp' },
    { family, bridge, slug, target: 'REJECT' },
  ]);
}

/** Whether every rule `blockBridgeToHost` adds for `bridge` is in place (a standby's, checked at its claim). */
export async function firewallRulesPresent(slug: string, bridge: string): Promise<boolean> {
  if (!isSlug(slug) || !isBridgeName(bridge)) return false;
  const checks = await Promise.all(hostRules(slug, bridge).map((rule) => xtables(rule.family, ['-C', ...ruleArgs(rule)])));
  return checks.every((c) => c.ok);
}

/**
 * Refuses unless `bridge` is an interface of this machine: with a remote engine or Docker Desktop the bridge
 * lives elsewhere and a rule here protects nothing.
 */
export function assertLocalBridge(bridge: string): void {
  if (!existsSync(`/sys/class/net/${bridge}`)) {
    throw new DockerError(
      `the bottle's bridge ${bridge} is not an interface of this machine (a remote engine, DOCKER_HOST, or Docker Desktop?): the host firewall rule that keeps the bottle off the host cannot be enforced here, so the docker backend refuses to launch`,
    );
  }
}

/** Remove every copy of one rule; a rule that is already gone is done. */
export async function removeFirewallRule(rule: FirewallRule): Promise<void> {
  if (!isSlug(rule.slug) || !isBridgeName(rule.bridge)) throw new DockerError(`refusing to touch a firewall rule for "${rule.bridge}": not a bot-bottle bridge`);
  // Bounded: a rule inserted twice (a retried launch) is removed twice.
  for (let i = 0; i < 8; i++) {
    const present = await xtables(rule.family, ['-C', ...ruleArgs(rule)]);
    if (!present.ok) return;
    const removed = await xtables(rule.family, ['-D', ...ruleArgs(rule)]);
    if (!removed.ok) throw new DockerError(`${TOOL[rule.family]} could not remove the rule for ${rule.bridge}: ${removed.stderr}`);
  }
  throw new DockerError(`${TOOL[rule.family]} still lists the rule for ${rule.bridge} after removing it 8 times`);
}

const LISTED = /^-A INPUT -i (\S+) (-p tcp )?-m comment --comment "?bot-bottle\.slug=([^"\s]+)"? -j (DROP|REJECT)(?: --reject-with (icmp6?-port-unreachable|tcp-reset))?$/;

/** Every bot-bottle rule in the host's INPUT chains, for `cleanup`. Lines that do not parse as ours are ignored. */
export async function listFirewallRules(): Promise<FirewallRule[]> {
  const rules: FirewallRule[] = [];
  for (const family of families()) {
    if (!onPath(TOOL[family])) continue;
    const listing = await xtables(family, ['-S', 'INPUT']);
    if (!listing.ok) continue;
    for (const line of listing.stdout.split('\n')) {
      const m = LISTED.exec(line.trim());
      const [, bridge, tcp, slug, target, rejectWith] = m ?? [];
      if (bridge === undefined || slug === undefined || !isBridgeName(bridge) || !isSlug(slug)) continue;
      // Only the two shapes launches add (and legacy DROP): a TCP rule is ours only with its reset.
      if ((tcp !== undefined) !== (rejectWith === 'tcp-reset') || (tcp !== undefined && target !== 'REJECT')) continue;
      rules.push({ family, bridge, slug, target: target === 'DROP' ? 'DROP' : 'REJECT', ...(tcp !== undefined ? { proto: 'tcp' as const } : {}) });
    }
  }
  return rules;
}
