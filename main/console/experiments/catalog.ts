/** Every experiment of the paper's evaluation, in the order they are listed. */
import type { Experiment } from './experiment.ts';
import { cache } from './cache.ts';
import { fig5aDelay, fig5bMlffr } from './fig5.ts';
import { fig5cMtu } from './fig5c.ts';
import { idsFlood } from './idsFlood.ts';
import { proximity } from './proximity.ts';

export const experiments: readonly Experiment[] = [fig5aDelay, fig5bMlffr, fig5cMtu, idsFlood, cache, proximity];
