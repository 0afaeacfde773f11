export function importedFunctionCount(bytes: Uint8Array): number;
export function exportedFunctionIndex(bytes: Uint8Array, name: string): number;
