/**
 * Small JSON state files of the console (profiles, layouts): written to a
 * temporary file and renamed over the old one, so a crash never leaves half a
 * file; created with the mode the caller asks (0600 for anything secret).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { describeIssues } from '../protocol/dispatcher.ts';

export function readJsonFile<S extends z.ZodType>(file: string, schema: S, fallback: z.output<S>): z.output<S> {
  if (!existsSync(file)) return fallback;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}); move it aside to start afresh`, { cause: e });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(`${file} refused: ${describeIssues(parsed.error, 'file')}; move it aside to start afresh`);
  return parsed.data;
}

export function writeJsonFile(file: string, value: unknown, mode = 0o600): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode });
  renameSync(tmp, file);
}
