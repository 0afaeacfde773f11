import type { BoundaryPlan } from '../plan/boundary.js';

/** The backend's part of the human plan view; failed host checks are listed with their fix. */
export function renderBoundary(boundary: BoundaryPlan): string[] {
  const lines: string[] = [];
  const b = boundary.bundle;
  const ports = [`egress ${b.ports.egress}`, ...(b.ports.gitGate !== undefined ? [`git-gate ${b.ports.gitGate}`] : []), `supervise ${b.ports.supervise}`];
  lines.push(`  boundary:  smolvm machine ${boundary.guest.machine}, may reach only ${boundary.guest.allowCidrs.join(', ')} (DNS: ${boundary.guest.dns}, nothing answers)`);
  lines.push(`    bundle:  ${b.address} on ${b.network} (${b.subnet}), ports ${ports.join(', ')}`);
  lines.push(`    pack:    ${boundary.pack.file}`);
  lines.push(`    smolvm ${boundary.smolvm.create.join(' ')}`);
  if (boundary.preflight.ok) lines.push('    host:    ready');
  for (const check of boundary.preflight.failed) lines.push(`    host NOT ready (${check.check}): ${check.detail}${check.fix !== undefined ? `; fix: ${check.fix}` : ''}`);
  return lines;
}
