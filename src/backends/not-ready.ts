import type { Backend } from './types.js';

/**
 * The parts of a backend that a later release makes real. They fail loudly
 * rather than pretend, so nothing ever runs outside a boundary by accident.
 */
export function notReady(name: Backend['name']): Pick<Backend, 'boundary' | 'exec' | 'attach' | 'stop' | 'list'> {
  const refuse = <T>(): Promise<T> => Promise.reject(new Error(`the ${name} backend cannot launch bottles in this version yet`));
  return { boundary: refuse, exec: refuse, attach: refuse, stop: refuse, list: () => Promise.resolve([]) };
}
