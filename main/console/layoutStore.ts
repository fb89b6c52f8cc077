/**
 * Node positions of topology views, per topology, so a graph looks the same
 * every time it is opened and live updates never re-lay it out. One JSON file
 * in the data folder; writes are merged and bounded.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from './jsonFile.ts';

const PositionSchema = z.object({ x: z.number().finite(), y: z.number().finite() });
const LayoutFileSchema = z.object({ topologies: z.record(z.string(), z.record(z.string(), PositionSchema)) });
type Position = z.infer<typeof PositionSchema>;

/** Beyond this many positions per topology, the oldest saved ones are dropped. */
const maxPositions = 50_000;

export class LayoutStore {
  private readonly file: string;

  constructor(dataDir: string) {
    this.file = join(dataDir, 'layouts.json');
  }

  get(topology: string): Record<string, Position> {
    return readJsonFile(this.file, LayoutFileSchema, { topologies: {} }).topologies[topology] ?? {};
  }

  save(topology: string, positions: Record<string, Position>): void {
    const all = readJsonFile(this.file, LayoutFileSchema, { topologies: {} });
    const merged = { ...all.topologies[topology], ...positions };
    const keys = Object.keys(merged);
    const kept = keys.length > maxPositions ? Object.fromEntries(keys.slice(keys.length - maxPositions).map((k) => [k, merged[k] as Position])) : merged;
    writeJsonFile(this.file, { topologies: { ...all.topologies, [topology]: kept } }, 0o600);
  }
}
