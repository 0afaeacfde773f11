import { arch } from 'node:process';

/**
 * A small seccomp-BPF deny list for the agent, on top of the namespaces:
 * kernel interfaces an agent never needs and that keep turning up in
 * sandbox escapes (keyrings, bpf, perf, userfaultfd, io_uring, module and
 * mount APIs, ptrace, terminal input injection via TIOCSTI/TIOCLINUX).
 * Denied calls fail with EPERM; anything not for x86_64 is killed, so the
 * filter cannot be bypassed through another syscall ABI. One list for every
 * backend: bwrap installs it (`--seccomp`); in a container it is installed
 * by `seccompExecPrefix` on top of the runtime's own profile (filters stack:
 * a call must pass both). Docker 20.10's default profile lets io_uring reach
 * the host kernel, and gVisor runs no OCI profile unless told to.
 */

const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO_EPERM = 0x00050000 | 1;
const NR_IOCTL = 16;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

// BPF opcodes.
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;

/** x86_64 syscall numbers of the denied calls. */
export const DENIED_SYSCALLS_X86_64: Record<string, number> = {
  ptrace: 101, syslog: 103, vhangup: 153, pivot_root: 155, acct: 163, settimeofday: 164,
  mount: 165, umount2: 166, swapon: 167, swapoff: 168, reboot: 169, init_module: 175, delete_module: 176,
  quotactl: 179, lookup_dcookie: 212, clock_settime: 227, kexec_load: 246, add_key: 248, request_key: 249,
  keyctl: 250, unshare: 272, perf_event_open: 298, name_to_handle_at: 303, open_by_handle_at: 304, setns: 308,
  finit_module: 313, kexec_file_load: 320, bpf: 321, userfaultfd: 323, io_uring_setup: 425, io_uring_enter: 426,
  io_uring_register: 427, open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
  mount_setattr: 442,
};

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** The filter as bwrap's --seccomp wants it (raw struct sock_filter array), or undefined on other architectures. */
export function seccompProgram(machine: string = arch): Buffer | undefined {
  if (machine !== 'x64') return undefined;
  const denied = Object.values(DENIED_SYSCALLS_X86_64);
  const prog: Insn[] = [];
  const ins = (code: number, k: number, jt = 0, jf = 0): void => void prog.push({ code, jt, jf, k });
  // seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8*i (low 32 bits first on little-endian).
  ins(LD_W_ABS, 4);
  ins(JEQ_K, AUDIT_ARCH_X86_64, 1, 0);
  ins(RET_K, SECCOMP_RET_KILL_PROCESS);
  ins(LD_W_ABS, 0);
  ins(JGE_K, X32_SYSCALL_BIT, 0, 1);
  ins(RET_K, SECCOMP_RET_KILL_PROCESS);
  // Check i jumps to the EPERM return, the last instruction: past the remaining checks and the 5-instruction ioctl block.
  denied.forEach((nr, i) => ins(JEQ_K, nr, denied.length - i + 4, 0));
  // ioctl(fd, TIOCSTI|TIOCLINUX, ...) → EPERM; other ioctls pass.
  ins(JEQ_K, NR_IOCTL, 0, 3);
  ins(LD_W_ABS, 24);
  ins(JEQ_K, TIOCSTI, 2, 0);
  ins(JEQ_K, TIOCLINUX, 1, 0);
  ins(RET_K, SECCOMP_RET_ALLOW);
  ins(RET_K, SECCOMP_RET_ERRNO_EPERM);
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt16LE(p.code, i * 8);
    buf.writeUInt8(p.jt, i * 8 + 2);
    buf.writeUInt8(p.jf, i * 8 + 3);
    buf.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/**
 * Installs a filter (hex of `seccompProgram()`) and execs the rest of argv:
 * prctl(PR_SET_NO_NEW_PRIVS) then seccomp(SECCOMP_SET_MODE_FILTER) through
 * perl's syscall() (x86_64 numbers), as `struct sock_fprog { u16 len; ptr }`.
 * Perl because Debian images always have it (perl-base is essential) and
 * node cannot make raw syscalls. Any failure exits 126 without running the
 * command: nothing runs unfiltered.
 */
const INSTALL_FILTER = [
  'my $f = pack("H*", shift @ARGV); shift @ARGV if @ARGV && $ARGV[0] eq "--";',
  'syscall(157, 38, 1, 0, 0, 0) == 0 or do { print STDERR "bot-bottle: cannot set no_new_privs: $!\n"; exit 126 };',
  'my $prog = pack("S x6 P", length($f) / 8, $f);',
  'syscall(317, 1, 0, $prog) == 0 or do { print STDERR "bot-bottle: cannot install the seccomp filter: $!\n"; exit 126 };',
  'exec { $ARGV[0] } @ARGV; print STDERR "bot-bottle: cannot run $ARGV[0]: $!\n"; exit 127;',
].join(' ');

/** Where container images keep perl (Debian's perl-base). */
export const GUEST_PERL = '/usr/bin/perl';

/**
 * The argv prefix that runs a command in a container under the agent's
 * filter; empty where there is no filter for the architecture (as for bwrap).
 */
export function seccompExecPrefix(machine: string = arch): string[] {
  const program = seccompProgram(machine);
  return program === undefined ? [] : [GUEST_PERL, '-e', INSTALL_FILTER, program.toString('hex'), '--'];
}
