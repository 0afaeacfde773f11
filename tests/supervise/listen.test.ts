import { describe, expect, it } from 'vitest';
import { SuperviseListenSchema } from '../../src/sidecars/supervise/config.js';

/** The supervise server has no auth: loopback, or a container alias on the bottle's own internal network, never an address. */
describe('supervise listen host', () => {
  it('takes loopback and a container alias (the docker bundle binds its internal-network address by alias)', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost', 'sidecars']) expect(SuperviseListenSchema.safeParse({ host, port: 8419 }).success).toBe(true);
  });

  it('refuses wildcards, addresses and dotted names', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '']) expect(SuperviseListenSchema.safeParse({ host, port: 8419 }).success).toBe(false);
  });
});
