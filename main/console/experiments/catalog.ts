/** Every experiment of the paper's evaluation, in the order they are listed. */
import type { Experiment } from './experiment.ts';
import { cache, fig5cMtu, idsFlood } from './pending.ts';
import { proximity } from './proximity.ts';

export const experiments: readonly Experiment[] = [fig5cMtu, idsFlood, cache, proximity];
