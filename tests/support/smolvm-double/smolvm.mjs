// TEST DOUBLE of smolvm 1.9 (the subset bot-bottle uses); see README.md in this folder.
// A "machine" is a Docker container started from the machine's image; its allow-list is
// enforced by an iptables ruleset installed in the container's network namespace.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

const env = process.env;
const VERSION = env.SMOLVM_DOUBLE_VERSION || '1.9.3';
const FAIL = new Set((env.SMOLVM_DOUBLE_FAIL || '').split(',').filter(Boolean));
const DATA_DIR = env.SMOLVM_DATA_DIR || join(homedir(), '.local', 'share', 'smolvm');
const MACHINES = join(DATA_DIR, 'double', 'machines');
const LABEL = 'smolvm-double.data-dir';
const REFUSED_LIST = 'smolvm_refused';

class Exit extends Error {
  constructor(code, stderr = '', stdout = '') {
    super(stderr);
    this.code = code;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}
const fail = (message) => new Exit(1, `Error: ${message}\n`);
const usage = (message, cmd) => new Exit(2, `error: ${message}\n\nUsage: smolvm ${cmd}\n\nFor more information, try '--help'.\n`);

function semverLess(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0);
  return false;
}

/**
 * clap-like parsing: `--long VALUE`, `--long=VALUE`, `-s VALUE`, boolean flags, and the
 * trailing command after `--`. Unknown flags, missing values and stray positionals are
 * usage errors (exit 2), as in clap.
 */
function parse(argv, spec, cmd) {
  const out = { trailing: [] };
  for (const def of Object.values(spec)) if (def.multiple) out[def.key] = [];
  const byName = new Map();
  for (const [long, def] of Object.entries(spec)) {
    byName.set(`--${long}`, { long, ...def });
    for (const s of def.short ?? []) byName.set(`-${s}`, { long, ...def });
  }
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '--') {
      out.trailing = argv.slice(i + 1);
      break;
    }
    let inline;
    if (arg.startsWith('--') && arg.includes('=')) [arg, inline] = [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)];
    const def = byName.get(arg);
    if (!def) {
      if (arg.startsWith('-')) throw usage(`unexpected argument '${arg}' found`, cmd);
      throw usage(`unexpected argument '${arg}' found`, cmd);
    }
    if (!def.value) {
      out[def.key] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw usage(`a value is required for '--${def.long} <${def.long.toUpperCase().replaceAll('-', '_')}>' but none was supplied`, cmd);
    if (def.multiple) out[def.key].push(value);
    else out[def.key] = value;
  }
  return out;
}

// ---- state --------------------------------------------------------------------------

const statePath = (name) => join(MACHINES, `${createHash('sha256').update(name).digest('hex').slice(0, 16)}.json`);
function load(name) {
  const file = statePath(name);
  if (!existsSync(file)) throw fail(`vm not found: ${name}`);
  return JSON.parse(readFileSync(file, 'utf8'));
}
function save(machine) {
  mkdirSync(MACHINES, { recursive: true });
  const file = statePath(machine.name);
  writeFileSync(`${file}.tmp`, JSON.stringify(machine, null, 2));
  renameSync(`${file}.tmp`, file);
}
function all() {
  if (!existsSync(MACHINES)) return [];
  return readdirSync(MACHINES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(MACHINES, f), 'utf8')));
}

function checkName(name, cmd) {
  if (name === undefined) throw usage("the following required arguments were not provided:\n  --name <NAME>", cmd);
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(name) || name.includes('--') || name.endsWith('-')) {
    throw fail(`config operation failed: create machine: invalid machine name '${name}'`);
  }
  return name;
}

function checkCidr(value, cmd) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(value);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || (m[5] !== undefined && Number(m[5]) > 32)) {
    throw usage(`invalid value '${value}' for '--allow-cidr <CIDR>': invalid CIDR '${value}'`, cmd);
  }
  return m[5] === undefined ? `${value}/32` : value;
}

// ---- docker -------------------------------------------------------------------------

function docker(args, opts = {}) {
  const r = spawnSync('docker', args, { encoding: 'utf8', stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'], input: opts.input, timeout: 120_000 });
  if (r.status !== 0 && !opts.allowFail) throw fail(`agent operation failed: ${args[0]}: ${(r.stderr || r.error?.message || '').trim()}`);
  return r;
}
const dockerName = (name) => `smolvm-double-${createHash('sha256').update(`${DATA_DIR}\0${name}`).digest('hex').slice(0, 12)}`;
function containerPid(container) {
  const r = docker(['inspect', '--format', '{{.State.Running}} {{.State.Pid}}', container], { allowFail: true });
  if (r.status !== 0) return undefined;
  const [running, pid] = r.stdout.trim().split(' ');
  return running === 'true' && Number(pid) > 0 ? Number(pid) : undefined;
}

function ipToInt(ip) {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}
function inSubnet(ip, subnet) {
  const [base, bits] = subnet.split('/');
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(base ?? '')) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipToInt(ip) / size) === Math.floor(ipToInt(base) / size);
}

/** The docker networks holding an allowed address: the guest joins them, as virtio-net's host side would reach them. */
function networksFor(cidrs) {
  const ids = docker(['network', 'ls', '--quiet']).stdout.split('\n').filter(Boolean);
  const found = [];
  for (const id of ids) {
    const r = docker(['network', 'inspect', '--format', '{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{end}}', id], { allowFail: true });
    if (r.status !== 0) continue;
    const [name, ...subnets] = r.stdout.trim().split(/\s+/);
    if (cidrs.some((c) => subnets.some((s) => inSubnet(c.split('/')[0], s)))) found.push(name);
  }
  return found;
}

function ruleset(machine) {
  // A refused connection fails at once (smolvm: EACCES; here EHOSTUNREACH from the reject) and is recorded for egress-events.
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT DROP [0:0]', ':REFUSE - [0:0]'];
  lines.push(`-A REFUSE -m recent --name ${REFUSED_LIST} --rdest --set`, '-A REFUSE -j REJECT --reject-with icmp-admin-prohibited');
  // The DNS gap: without --dns/--allow-host, smolvm forwards the guest's DNS upstream unfiltered.
  // Here Docker's embedded resolver plays the gateway's; closing DNS closes it.
  if (machine.dns !== undefined || machine.allowHosts.length > 0) lines.push('-A OUTPUT -d 127.0.0.11/32 -j DROP');
  lines.push('-A OUTPUT -o lo -j ACCEPT');
  lines.push('-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT');
  lines.push('-A OUTPUT -d 169.254.0.0/16 -j REFUSE');
  for (const cidr of machine.allowCidrs) lines.push(`-A OUTPUT -d ${cidr} -j ACCEPT`);
  lines.push('-A OUTPUT -j REFUSE', 'COMMIT', '');
  return lines.join('\n');
}

function enforce(machine, pid) {
  const policy = machine.allowCidrs.length > 0 || machine.allowHosts.length > 0;
  if (!policy || machine.open) return;
  const v4 = spawnSync('nsenter', ['-t', String(pid), '-n', 'iptables-restore'], { input: ruleset(machine), encoding: 'utf8' });
  if (v4.status !== 0) throw fail(`agent operation failed: start: network policy: ${(v4.stderr || '').trim()}`);
  spawnSync('nsenter', ['-t', String(pid), '-n', 'ip6tables-restore'], {
    input: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n-A OUTPUT -o lo -j ACCEPT\nCOMMIT\n',
    encoding: 'utf8',
  });
}

// ---- commands -------------------------------------------------------------------------

const CREATE = {
  name: { key: 'name', short: ['n'], value: true },
  from: { key: 'from', value: true },
  image: { key: 'image', short: ['I'], value: true },
  smolfile: { key: 'smolfile', short: ['s'], value: true },
  cpus: { key: 'cpus', value: true },
  mem: { key: 'mem', value: true },
  volume: { key: 'volumes', short: ['v'], value: true, multiple: true },
  net: { key: 'net' },
  'net-backend': { key: 'netBackend', value: true },
  dns: { key: 'dns', value: true },
  'allow-cidr': { key: 'allowCidrs', value: true, multiple: true },
  'allow-host': { key: 'allowHosts', value: true, multiple: true },
  'outbound-localhost-only': { key: 'localhostOnly' },
  env: { key: 'env', short: ['e'], value: true, multiple: true },
  workdir: { key: 'workdir', short: ['w'], value: true },
  label: { key: 'labels', value: true, multiple: true },
};

function create(argv) {
  const cmd = 'machine create [OPTIONS] [-- <COMMAND>...]';
  const o = parse(argv, CREATE, cmd);
  const name = checkName(o.name, cmd);
  const sources = ['from', 'image', 'smolfile'].filter((k) => o[k] !== undefined);
  if (sources.length > 1) throw usage(`the argument '--${sources[0]} <${sources[0].toUpperCase()}>' cannot be used with '--${sources[1]} <${sources[1].toUpperCase()}>'`, cmd);
  if (o.volumes.length > 0 || o.smolfile !== undefined) throw fail('the smolvm test double does not implement volumes or smolfiles');
  const allowCidrs = o.allowCidrs.map((c) => checkCidr(c, cmd));
  if (o.netBackend === 'tsi' && (allowCidrs.length > 0 || o.allowHosts.length > 0)) throw fail('config operation failed: create machine: an egress policy needs the virtio-net backend');
  if (o.dns !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(o.dns)) throw usage(`invalid value '${o.dns}' for '--dns <DNS>'`, cmd);
  if (existsSync(statePath(name))) throw fail(`config operation failed: create machine: machine '${name}' already exists or is being created`);

  let image;
  let fromPack = false;
  if (o.from !== undefined) {
    if (!o.from.endsWith('.smolmachine') || !existsSync(o.from)) throw fail(`config operation failed: create machine: cannot read pack '${o.from}'`);
    const pack = JSON.parse(readFileSync(o.from, 'utf8'));
    image = pack.image;
    fromPack = true;
  } else if (o.image === '-') {
    const r = docker(['load'], { stdio: ['inherit', 'pipe', 'pipe'] });
    const id = /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(r.stdout)?.[1];
    const ref = /Loaded image: (\S+)/.exec(r.stdout)?.[1];
    image = id ?? docker(['image', 'inspect', '--format', '{{.Id}}', ref ?? '']).stdout.trim();
  } else if (o.image !== undefined) {
    const r = docker(['image', 'inspect', '--format', '{{.Id}}', o.image], { allowFail: true });
    if (r.status !== 0) throw fail(`agent operation failed: pull: the test double has no registry (image ${o.image})`);
    image = r.stdout.trim();
  } else {
    throw fail('the smolvm test double needs --from or --image');
  }

  // Before 1.8.0, `--from` silently dropped the egress policy (the machine came up with open networking).
  const policyDropped = fromPack && semverLess(VERSION, '1.8.0');
  // A machine whose policy was dropped or did not take is wide open: TSI proxies its sockets through
  // the host, so it reaches whatever the host reaches. The double gives it the host's network.
  const open = policyDropped || FAIL.has('allow-list');
  const machine = {
    name,
    state: 'created',
    image,
    fromPack,
    cpus: Number(o.cpus ?? 4),
    memory_mib: Number(o.mem ?? 8192),
    allowCidrs: policyDropped ? [] : allowCidrs,
    allowHosts: policyDropped ? [] : o.allowHosts,
    dns: o.dns,
    env: o.env.map((e) => (e.includes('=') ? e : `${e}=${env[e] ?? ''}`)),
    workdir: fromPack ? undefined : o.workdir,
    labels: Object.fromEntries(o.labels.map((l) => [l.split('=')[0], l.split('=').slice(1).join('=')])),
    open,
    container: dockerName(name),
    network: open ? undefined : dockerName(name),
    execs: 0,
    events: [],
    created_at: new Date().toISOString(),
  };
  const label = `${LABEL}=${DATA_DIR}`;
  if (machine.network !== undefined) docker(['network', 'create', '--label', label, machine.network]);
  const args = ['create', '--name', machine.container, '--label', label, '--network', machine.network ?? 'host', '--init'];
  // The guest's root must not be able to rewrite its own policy (a VM guest cannot reach the host's gateway either).
  args.push('--cap-drop', 'NET_ADMIN', '--cap-drop', 'NET_RAW', '--tmpfs', '/tmp:rw,exec,mode=1777', '--tmpfs', '/run:rw,exec,mode=755');
  for (const e of machine.env) args.push('--env', e);
  if (machine.workdir !== undefined) args.push('--workdir', machine.workdir);
  args.push('--entrypoint', 'sleep', image, 'infinity');
  const created = docker(args, { allowFail: true });
  if (created.status !== 0) {
    if (machine.network !== undefined) docker(['network', 'rm', machine.network], { allowFail: true });
    throw fail(`config operation failed: create machine: ${created.stderr.trim()}`);
  }
  save(machine);
  return { stdout: `Created machine: ${name}\n  Image: ${image}\n  CPUs: ${machine.cpus}, Memory: ${machine.memory_mib} MiB\n\nStart it with: smolvm machine start --name ${name}\n` };
}

function start(argv) {
  const o = parse(argv, { name: { key: 'name', short: ['n'], value: true } }, 'machine start --name <NAME>');
  const machine = load(checkName(o.name, 'machine start --name <NAME>'));
  const running = containerPid(machine.container);
  if (running !== undefined) return { stdout: `Machine '${machine.name}' already running (PID: ${running})\n` };
  process.stderr.write(`Starting machine '${machine.name}'...\n`);
  if (FAIL.has('start')) {
    machine.state = 'failed';
    save(machine);
    throw fail(`agent operation failed: start: guest agent did not answer (injected by SMOLVM_DOUBLE_FAIL=start)`);
  }
  for (const net of machine.open ? [] : networksFor(machine.allowCidrs)) {
    const r = docker(['network', 'connect', net, machine.container], { allowFail: true });
    if (r.status !== 0 && !/already exists/.test(r.stderr)) throw fail(`agent operation failed: start: ${r.stderr.trim()}`);
  }
  docker(['start', machine.container]);
  const pid = containerPid(machine.container);
  try {
    enforce(machine, pid);
  } catch (error) {
    docker(['stop', '--time', '1', machine.container], { allowFail: true });
    throw error;
  }
  machine.state = 'running';
  machine.pid = pid;
  save(machine);
  return { stdout: `Machine '${machine.name}' running (PID: ${pid})\n` };
}

/**
 * smolvm 1.9.3 prints `{timestamp, operation, dest}` with dest `ip:port`. xt_recent keeps the destination
 * address only, so the double's dest is the bare address and the timestamp is when the double first read it.
 */
function readEvents(machine, pid) {
  const r = spawnSync('nsenter', ['-t', String(pid), '-n', 'cat', `/proc/net/xt_recent/${REFUSED_LIST}`], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => /src=(\S+)/.exec(l)?.[1])
    .filter(Boolean)
    .map((dest) => ({ timestamp: new Date().toISOString(), operation: 'connect', dest }));
}

function stop(argv) {
  const o = parse(argv, { name: { key: 'name', short: ['n'], value: true } }, 'machine stop --name <NAME>');
  const machine = load(checkName(o.name, 'machine stop --name <NAME>'));
  const pid = containerPid(machine.container);
  if (pid === undefined) return { stdout: `Machine '${machine.name}' is not running (state: ${machine.state === 'running' ? 'stopped' : machine.state})\n` };
  machine.events = mergeEvents(machine.events, readEvents(machine, pid));
  docker(['stop', '--time', '1', machine.container]);
  machine.state = 'stopped';
  delete machine.pid;
  save(machine);
  return { stdout: `Stopped machine: ${machine.name}\n` };
}

function mergeEvents(a, b) {
  const seen = new Set(a.map((e) => e.dest));
  return [...a, ...b.filter((e) => !seen.has(e.dest))];
}

function remove(argv) {
  const o = parse(argv, { name: { key: 'name', short: ['n'], value: true }, force: { key: 'force', short: ['f'] } }, 'machine delete --name <NAME> [-f]');
  const machine = load(checkName(o.name, 'machine delete --name <NAME>'));
  if (!o.force) {
    // smolvm <= 1.9.3: the prompt goes to stderr and one line is read from stdin; anything but y/yes
    // (an empty or closed stdin included) prints Cancelled and exits 0 with nothing deleted.
    process.stderr.write(`Delete machine '${machine.name}'? [y/N] `);
    let answer = '';
    try {
      answer = readFileSync(0, 'utf8').split('\n')[0].trim().toLowerCase();
    } catch {
      answer = '';
    }
    if (answer !== 'y' && answer !== 'yes') return { stdout: 'Cancelled\n' };
  }
  docker(['rm', '--force', machine.container], { allowFail: true });
  if (machine.network !== undefined) docker(['network', 'rm', machine.network], { allowFail: true });
  rmSync(statePath(machine.name), { force: true });
  return { stdout: `Deleted machine: ${machine.name}\n` };
}

function liveState(machine) {
  if (machine.state !== 'running') return machine.state;
  return containerPid(machine.container) === undefined ? 'unreachable' : 'running';
}

function ls(argv) {
  const o = parse(argv, { json: { key: 'json' }, verbose: { key: 'verbose', short: ['v'] } }, 'machine ls [--json] [-v]');
  const machines = all();
  if (o.json) {
    const rows = machines.map((m) => ({
      name: m.name,
      state: liveState(m),
      cpus: m.cpus,
      memory_mib: m.memory_mib,
      pid: m.pid ?? null,
      network: m.allowCidrs.length > 0 || m.allowHosts.length > 0 ? 'virtio-net' : null,
      labels: m.labels,
      image: m.fromPack ? null : m.image,
      created_at: m.created_at,
    }));
    return { stdout: `${JSON.stringify(rows, null, 2)}\n` };
  }
  if (machines.length === 0) return { stdout: 'No machines found.\n' };
  const lines = [`${'NAME'.padEnd(32)} ${'STATE'.padEnd(12)} CPUS  MEMORY  PID`];
  for (const m of machines) {
    lines.push(`${m.name.padEnd(32)} ${liveState(m).padEnd(12)} ${String(m.cpus).padEnd(5)} ${String(m.memory_mib).padEnd(7)} ${m.pid ?? '-'}`);
    if (o.verbose) {
      for (const e of m.env) lines.push(`  Env: ${e}`);
      for (const c of m.allowCidrs) lines.push(`  Allow CIDR: ${c}`);
    }
  }
  return { stdout: `${lines.join('\n')}\n` };
}

function parseTimeout(value) {
  const m = /^(\d+)(ms|s|m)?$/.exec(value);
  if (!m) throw usage(`invalid value '${value}' for '--timeout <TIMEOUT>'`, 'machine exec');
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
}

function exec(argv) {
  const cmd = 'machine exec --name <NAME> [OPTIONS] -- <COMMAND>...';
  // `-n` is not accepted on exec, in every version.
  const o = parse(
    argv,
    {
      name: { key: 'name', value: true },
      env: { key: 'env', short: ['e'], value: true, multiple: true },
      'secret-env': { key: 'secretEnv', value: true, multiple: true },
      workdir: { key: 'workdir', short: ['w'], value: true },
      interactive: { key: 'interactive', short: ['i'] },
      tty: { key: 'tty', short: ['t'] },
      stream: { key: 'stream' },
      timeout: { key: 'timeout', value: true },
    },
    cmd,
  );
  const machine = load(checkName(o.name, cmd));
  if (o.trailing.length === 0) throw usage('the following required arguments were not provided:\n  <COMMAND>...', cmd);
  const pid = containerPid(machine.container);
  if (pid === undefined) throw fail(`agent operation failed: connect: machine '${machine.name}' is not running. Use 'smolvm machine start --name ${machine.name}' first.`);
  machine.execs += 1;
  save(machine);
  if (String(machine.execs) === env.SMOLVM_DOUBLE_EXEC_137) return { code: 137, stderr: 'client disconnected\n' };
  const args = ['exec'];
  if (o.interactive) args.push('-i');
  if (o.tty) args.push('-t');
  // `--from` machines run as root up to ~1.14; others as the image's USER.
  if (machine.fromPack) args.push('--user', '0');
  for (const e of o.env) args.push('--env', e.includes('=') ? e : `${e}=${env[e] ?? ''}`);
  // --secret-env GUEST=HOST: the value is read from smolvm's environment and reaches docker the same way.
  const secretEnv = {};
  for (const ref of o.secretEnv) {
    const [guest, host] = ref.split('=');
    if (!guest || !host || env[host] === undefined) throw fail(`config operation failed: exec: secret-env ${ref}: host variable not set`);
    secretEnv[guest] = env[host];
    args.push('--env', guest);
  }
  if (o.workdir !== undefined) args.push('--workdir', o.workdir);
  args.push(machine.container, ...o.trailing);
  const timeout = o.timeout !== undefined ? parseTimeout(o.timeout) : undefined;
  const streaming = o.interactive || o.tty || o.stream;
  const r = spawnSync('docker', args, {
    env: { ...env, ...secretEnv },
    stdio: streaming ? [o.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    maxBuffer: 11 * 1024 * 1024,
    timeout,
  });
  if (r.error?.code === 'ETIMEDOUT') return { code: 124, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
  // Buffered: stdout first, then stderr.
  return { code: r.status ?? 128 + 9, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

function egressEvents(argv) {
  const o = parse(argv, { name: { key: 'name', short: ['n'], value: true }, limit: { key: 'limit', value: true }, json: { key: 'json' } }, 'machine egress-events [OPTIONS]');
  const name = o.name ?? 'default';
  const machine = load(name);
  const pid = containerPid(machine.container);
  const events = mergeEvents(machine.events, pid === undefined ? [] : readEvents(machine, pid)).slice(-Number(o.limit ?? 200));
  if (o.json) return { stdout: `${JSON.stringify(events, null, 2)}\n` };
  if (events.length === 0) return { stdout: `No egress denials recorded for '${name}'.\n` };
  const lines = [`${'TIMESTAMP'.padEnd(30)} ${'OP'.padEnd(9)} DESTINATION`, ...events.map((e) => `${e.timestamp.padEnd(30)} ${e.operation.padEnd(9)} ${e.dest}`)];
  return { stdout: `${lines.join('\n')}\n` };
}

function pack(argv) {
  if (argv[0] !== 'create') throw usage(`unrecognized subcommand '${argv[0] ?? ''}'`, 'pack <COMMAND>');
  const cmd = 'pack create (--image <IMAGE> | --from-vm <NAME>) --output <OUTPUT>';
  const o = parse(argv.slice(1), { image: { key: 'image', short: ['I'], value: true }, 'from-vm': { key: 'fromVm', value: true }, output: { key: 'output', short: ['o'], value: true } }, cmd);
  if (o.output === undefined) throw usage('the following required arguments were not provided:\n  --output <OUTPUT>', cmd);
  if (o.output.endsWith('.smolmachine')) throw fail(`pack: output '${o.output}' must not end in .smolmachine (the sidecar '${o.output}.smolmachine' is written next to it)`);
  if (o.image !== undefined) throw fail('agent operation failed: pull: the test double has no registry');
  if (o.fromVm === undefined) throw usage('one of --image or --from-vm is required', cmd);
  const machine = load(o.fromVm);
  if (containerPid(machine.container) !== undefined) throw fail(`pack: machine '${machine.name}' is running; stop it first`);
  if (FAIL.has('pack')) throw fail('pack: failed to export the machine (injected by SMOLVM_DOUBLE_FAIL=pack)');
  const tag = `smolvm-double-pack:${createHash('sha256').update(`${DATA_DIR}\0${o.output}`).digest('hex').slice(0, 12)}`;
  docker(['commit', '--change', `LABEL ${LABEL}=${DATA_DIR}`, machine.container, tag]);
  const image = docker(['image', 'inspect', '--format', '{{.Id}}', tag]).stdout.trim();
  mkdirSync(dirname(o.output), { recursive: true });
  writeFileSync(`${o.output}.smolmachine`, JSON.stringify({ smolvmDouble: 1, image, from: machine.name }));
  writeFileSync(o.output, '#!/bin/sh\necho "smolvm test double pack stub" >&2\nexit 1\n');
  chmodSync(o.output, 0o755);
  return { stdout: `Packed machine '${machine.name}' into ${o.output}.smolmachine\n` };
}

function main(argv) {
  if (argv[0] === '--version' || argv[0] === '-V') return { stdout: `smolvm ${VERSION}\n` };
  if (argv[0] === 'pack') return pack(argv.slice(1));
  if (argv[0] !== 'machine') throw usage(`unrecognized subcommand '${argv[0] ?? ''}'`, '<COMMAND>');
  const [sub, ...rest] = argv.slice(1);
  switch (sub) {
    case 'create':
      return create(rest);
    case 'start':
      return start(rest);
    case 'stop':
      return stop(rest);
    case 'delete':
    case 'rm':
      return remove(rest);
    case 'ls':
    case 'list':
      return ls(rest);
    case 'exec':
      return exec(rest);
    case 'egress-events':
      return egressEvents(rest);
    default:
      throw usage(`unrecognized subcommand '${sub ?? ''}'`, 'machine <COMMAND>');
  }
}

let result;
try {
  result = main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof Exit)) throw error;
  result = { code: error.code, stdout: error.stdout, stderr: error.stderr };
}
if (result.stdout) process.stdout.write(result.stdout);
if (result.stderr) process.stderr.write(result.stderr);
process.exitCode = result.code ?? 0;
