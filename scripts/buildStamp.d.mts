// Types of buildStamp.mjs, for the test that imports it.
export const buildSources: string[];
export function sourceStamp(root: string, sources?: string[]): string;
export function upToDate(root: string, what: string, output: string): boolean;
export function recordBuild(root: string, what: string, stamp: string): void;
