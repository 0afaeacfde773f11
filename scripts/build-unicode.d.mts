export const OUTPUT: string;
export function generate(): string;
