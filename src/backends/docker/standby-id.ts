/**
 * A docker standby's id (standby.ts): where a bottle's resources carry its slug, a standby's carry this, a
 * name no bottle can take (plan/slug.ts refuses the prefix).
 */
export const STANDBY_ID_PREFIX = 'bb-standby-';
const STANDBY_ID = /^bb-standby-[0-9a-f]{12}$/;

export function isStandbyId(value: string | undefined): value is string {
  return value !== undefined && STANDBY_ID.test(value);
}
