/**
 * What an experiment needs of the service catalog on this host: the
 * services it uses that this build lacks or this host cannot run, each with
 * why, in the words `pcctl experiment list` and the console show.
 */
import { descriptorOf } from '../../services/catalog.ts';
import type { HostFacts } from './experiment.ts';

/** The services of `programs` this host cannot run, each with why. */
export function missingServices(programs: readonly string[], host: HostFacts): string[] {
  return programs.flatMap((program) => {
    const d = descriptorOf(program);
    if (!d) return [`the ${program} service (not in this build's catalog)`];
    const why = d.availability({ root: host.root });
    return why ? [`the ${program} service (${why})`] : [];
  });
}
