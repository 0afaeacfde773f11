export const SOURCE: string;
export const OUTPUT: string;
export function compile(): Promise<string>;
