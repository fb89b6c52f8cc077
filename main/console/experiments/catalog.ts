/** Every experiment of the paper's evaluation, in the order they are listed. */
import type { Experiment } from './experiment.ts';
import { fig5aDelay, fig5bMlffr } from './fig5.ts';
import { idsFlood } from './idsFlood.ts';
import { cache, fig5cMtu } from './pending.ts';
import { proximity } from './proximity.ts';

export const experiments: readonly Experiment[] = [fig5aDelay, fig5bMlffr, fig5cMtu, idsFlood, cache, proximity];
