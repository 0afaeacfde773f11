import { describe, expect, it } from 'vitest';
import { leafOrder } from '../../src/routes/leaf-order.js';

const auth = { scheme: 'Bearer', token_ref: 'T' } as never;

describe('leafOrder', () => {
  it('puts hosts with injected auth first, leaves wildcards out and names each host once', () => {
    expect(
      leafOrder([
        { host: 'docs.example.test' },
        { host: '*.cdn.example.test' },
        { host: 'API.example.test', auth },
        { host: 'docs.example.test' },
        { host: 'api.example.test' },
      ]),
    ).toEqual(['api.example.test', 'docs.example.test']);
  });

  it('is empty when every route is a wildcard', () => {
    expect(leafOrder([{ host: '*.example.test' }])).toEqual([]);
  });
});
