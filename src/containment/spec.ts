/**
 * What the containment probe is told (ProbeSpec, launcher → bottle) and what it
 * reports (ProbeReport, bottle → launcher). The spec carries no secret and no
 * host path: the launcher keeps what it compares against (token values, host
 * process markers, canary hits) and decides alone (checks.ts).
 *
 * The probe runs inside the bottle and imports only this file's types and
 * observe.ts, so its bundle stays small and free of the CLI's dependencies.
 */

export const PROBE_SPEC_VERSION = 1;

export type Proto = 'tcp' | 'udp';

export interface Endpoint {
  host: string;
  port: number;
}

export interface ProbeSpec {
  version: typeof PROBE_SPEC_VERSION;
  /** Host listeners the bottle must not reach (loopback and the host's other addresses). */
  canaries: Array<Endpoint & { proto: Proto }>;
  /** A name the host resolves; it must not resolve inside. Absent when the host resolves none offline. */
  dnsName?: string;
  /** The bundle's endpoints as the agent reaches them; the probe waits (bounded) until they listen. */
  endpoints: Endpoint[];
  /**
   * The endpoints are another machine's (docker: the bundle's container, by
   * its alias): the probe waits until they accept a connection instead of
   * until they listen inside.
   */
  endpointsRemote?: boolean;
  proxy: Endpoint;
  /** A host no route matches: the proxy must answer it with a route block. */
  unroutedHost: string;
  ca: {
    bundlePath: string;
    filePath: string;
    /** The bottle CA's DER, base64 (a public certificate; the guest's trust store must hold it). */
    der: string;
    /** A routed host:port to CONNECT to, so egress mints a leaf the guest must verify; absent without routes. */
    leafFor?: Endpoint;
  };
  /** Folders whose regular files are read back to the launcher (besides /proc). */
  scanDirs: string[];
  /** Per network attempt; per file and in all read back; how many files and folders the walk may visit. */
  limits: { attemptMs: number; fileBytes: number; totalBytes: number; entries: number };
}

/**
 * The spec in the order the probe gets it: everything but the CA as soon as
 * it can run (its network, DNS, process and privilege checks then overlap the
 * bundle's start-up), the CA once the bundle has minted it (the proxy, CA and
 * file checks wait for that).
 */
export type ProbeSpecEarly = Omit<ProbeSpec, 'ca'> & { ca: Omit<ProbeSpec['ca'], 'der'> };
export interface ProbeSpecLate {
  caDer: string;
}

/** What one connection attempt from inside ended with: `connected`/`answered` (reachable), `timeout`, or an errno code. */
export type Outcome = string;

export interface ProbeReport {
  version: typeof PROBE_SPEC_VERSION;
  network: {
    /** Interface names in /proc/net/dev. */
    interfaces: string[];
    /** Non-header lines of /proc/net/route and non-loopback lines of /proc/net/ipv6_route. */
    routes: string[];
    /** TCP sockets in LISTEN state and bound UDP sockets, as seen before the probe opened any. */
    listeners: Array<Endpoint & { proto: Proto }>;
    /** Listening Unix sockets (path or @abstract). */
    unixListeners: string[];
    /** Endpoints still not listening when the probe gave up waiting. */
    notListening: Endpoint[];
  };
  attempts: Array<Endpoint & { proto: Proto; outcome: Outcome }>;
  /** `resolved`, or the lookup's error code. */
  dns?: { name: string; outcome: string };
  proxy: { status: number | null; blockStage: string | null; error?: string };
  /** handshake: `verified`, `not-tried`, or why it failed. */
  ca: { inBundle: boolean; fileMatches: boolean; handshake: string };
  self: { uid: number; ownsUsr: boolean; capEff: string; noNewPrivs: string; seccomp: string };
  processes: Array<{ pid: number; cmdline: string }>;
  /** Everything readable that could hold a credential, base64, labelled by where it came from. */
  texts: Array<{ source: string; data: string }>;
  /** Set when the scan stopped at a limit: what was left unread. */
  truncated?: string;
  /** Milliseconds since the probe process started: when it finished, and when each step did. */
  ms: number;
  timings: Record<string, number>;
}
