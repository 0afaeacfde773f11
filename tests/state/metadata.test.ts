import { readdirSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { knownSlugs, readMetadata, slugTaken, writeMetadata, type BottleMetadata } from '../../src/state/metadata.js';
import { bottleStatePaths } from '../../src/state/paths.js';
import { allocateSlug, defaultColor, validateLabel } from '../../src/plan/slug.js';
import { tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

const meta = (slug: string): BottleMetadata => ({
  slug, agent: 'impl', bottles: ['claude', 'dev'], backend: 'docker', cwd: '/src/app', copy_cwd: true, label: slug, color: 'magenta', started_at: '2026-11-22T10:00:00.000Z',
});

describe('bottle metadata', () => {
  it('round-trips and leaves no temp files behind', async () => {
    h = tempHome();
    const file = await writeMetadata(h.home, meta('impl-1a2b'));
    expect(file).toBe(bottleStatePaths('impl-1a2b', h.home).metadata);
    expect(readMetadata(h.home, 'impl-1a2b')).toEqual(meta('impl-1a2b'));
    expect(readdirSync(bottleStatePaths('impl-1a2b', h.home).dir)).toEqual(['metadata.json']);
    expect(knownSlugs(h.home)).toEqual(['impl-1a2b']);
    expect(slugTaken(h.home, 'impl-1a2b')).toBe(true);
    expect(slugTaken(h.home, 'other')).toBe(false);
  });

  it('explains missing and damaged state', async () => {
    h = tempHome();
    expect(() => readMetadata(h.home, 'ghost')).toThrow(/no usable state for bottle "ghost".*ENOENT/);
    await writeMetadata(h.home, meta('dmg'));
    writeFileSync(bottleStatePaths('dmg', h.home).metadata, '{"slug": "dmg"}');
    expect(() => readMetadata(h.home, 'dmg')).toThrow(/is damaged/);
  });
});

describe('slugs', () => {
  it('uses the label verbatim, else agent-4hex, and suffixes collisions', () => {
    expect(allocateSlug({ label: 'review-bot', agent: 'x', taken: () => false })).toBe('review-bot');
    expect(allocateSlug({ agent: 'Impl Agent', taken: () => false, random: () => 'beef' })).toBe('impl-agent-beef');
    const taken = new Set(['impl-beef', 'impl-beef-2']);
    expect(allocateSlug({ agent: 'impl', taken: (s) => taken.has(s), random: () => 'beef' })).toBe('impl-beef-3');
  });

  it('rejects labels that cannot name a folder or a container', () => {
    expect(() => validateLabel('../escape')).toThrow(/not usable/);
    expect(() => validateLabel('x'.repeat(65))).toThrow(/65 bytes; the limit is 64/);
    expect(validateLabel('ok.name_1-2')).toBe('ok.name_1-2');
  });

  it("never gives a bottle a docker standby's name (their resources share the engine)", () => {
    expect(() => validateLabel('bb-standby-0123456789ab')).toThrow(/"bb-standby-" are bot-bottle's own/);
    expect(allocateSlug({ agent: 'bb-standby-0123456789ab', taken: () => false, random: () => 'beef' })).toBe('agent-bb-standby-0123456789ab-beef');
  });

  it('gives a stable default colour', () => {
    expect(defaultColor('abc')).toBe(defaultColor('abc'));
  });
});
