import { describe, expect, it } from 'vitest';
import { initScript } from '../../src/backends/bwrap/init-script.js';

describe('the bwrap sandbox init script', () => {
  const forwards = [
    { name: 'egress', port: 3128, socket: 'egress.sock' },
    { name: 'supervise', port: 8419, socket: 'supervise.sock' },
  ];

  it('forwards each port on loopback only, with Nagle off (a small write must not wait for the agent\'s delayed ACK)', () => {
    const lines = initScript(forwards).split('\n').filter((l) => l.startsWith('socat '));
    expect(lines).toHaveLength(2);
    for (const f of forwards) {
      const line = lines.find((l) => l.includes(`TCP-LISTEN:${f.port},`));
      expect(line).toMatch(new RegExp(`^socat TCP-LISTEN:${f.port},bind=127\\.0\\.0\\.1,fork,reuseaddr,nodelay UNIX-CONNECT:\\S+/sock/${f.socket.replace('.', '\\.')} `));
    }
  });

  it('starts the probe before seeding the home, and the forwarders after it (the probe reads the home only once they listen)', () => {
    const lines = initScript(forwards, { argv: ['/opt/node', '/opt/probe.js'] }).split('\n');
    const probe = lines.findIndex((l) => l.startsWith("'/opt/node' '/opt/probe.js'"));
    const seed = lines.findIndex((l) => l.startsWith('cp -a '));
    const firstForwarder = lines.findIndex((l) => l.startsWith('socat '));
    expect(probe).toBeGreaterThan(0);
    expect(seed).toBeGreaterThan(probe);
    expect(firstForwarder).toBeGreaterThan(seed);
  });
});
