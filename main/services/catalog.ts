/**
 * The service catalog (contracts point 1): the built-in programs this
 * software can run inside VIs, each described by the `descriptor` its module
 * exports (kind, port, argument schema, availability on this host). The
 * controller offers these beside the programs its configuration names, lists
 * them in `service.list` and checks every reservation's service spec here
 * before it holds anything, so a wrong argument or a program this host cannot
 * run is refused with its reason at admission, never a silent failure at t0.
 */
import type { z } from 'zod';
import type { ServiceSpec } from '../protocol/domain.ts';
import { descriptor as aesEncrypt } from './aes-encrypt.ts';
import { descriptor as forward } from './forward.ts';
import { descriptor as ids } from './ids.ts';
import { descriptor as ipsecTunnel } from './ipsec-tunnel.ts';
import { descriptor as loadBalancer } from './load-balancer.ts';
import { descriptor as monitor } from './monitor.ts';
import type { ServiceDescriptor } from './sdk/descriptor.ts';
import { descriptor as wanOptimizer } from './wan-optimizer.ts';
import { descriptor as webCache } from './web-cache.ts';

export type { ServiceDescriptor };
export { argsSummary, type ArgSummary } from './sdk/descriptor.ts';

export const catalog: readonly ServiceDescriptor[] = [monitor, forward, aesEncrypt, ipsecTunnel, wanOptimizer, ids, webCache, loadBalancer];

const byProgram = new Map(catalog.map((d) => [d.program, d]));

export function descriptorOf(program: string): ServiceDescriptor | undefined {
  return byProgram.get(program);
}

/** One line per problem, naming the argument: `argument "key": 64 hexadecimal digits (32 bytes)`. */
function argProblems(d: ServiceDescriptor, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const known = argsOf(d);
      return `unknown argument${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (${d.program} takes ${known.length ? known.join(', ') : 'no arguments'})`;
    }
    const name = issue.path.map(String).join('.');
    return name ? `argument "${name}": ${issue.message}` : issue.message;
  });
}

function argsOf(d: ServiceDescriptor): string[] {
  const shape = (d.args as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

/**
 * Why a service spec cannot run here as a catalog program (null when it can, or when the program
 * is not in the catalog: configured programs take any arguments). Checks availability on this
 * host, the port kind and the arguments.
 */
export function serviceProblem(spec: Pick<ServiceSpec, 'program' | 'args' | 'port'>, host: { root: boolean }): string | null {
  const d = descriptorOf(spec.program);
  if (!d) return null;
  const unavailable = d.availability(host);
  if (unavailable) return `service "${d.program}" cannot run on this cloudlet: ${unavailable}`;
  if (spec.port && !(d.portKinds ?? [d.port.kind]).includes(spec.port.kind)) return `service "${d.program}" runs on a ${(d.portKinds ?? [d.port.kind]).join(' or ')} port, not a ${spec.port.kind} port (leave port out to get its own)`;
  const parsed = d.args.safeParse(spec.args);
  if (!parsed.success) return `service "${d.program}": ${argProblems(d, parsed.error).join('; ')}`;
  return null;
}

/** The port a service gets: what its spec says, else what its descriptor says, else a single ring. */
export function portOf(spec: Pick<ServiceSpec, 'program' | 'port'>): NonNullable<ServiceSpec['port']> {
  return spec.port ?? descriptorOf(spec.program)?.port ?? { kind: 'ring', layout: 'single' };
}

/** Arguments of a program that hold secrets (keys), to be kept out of logs and API answers. */
export function secretArgsOf(program: string): readonly string[] {
  return descriptorOf(program)?.secretArgs ?? [];
}

/** The args with every secret value replaced by "(redacted)". */
export function redactedArgs(program: string, args: Record<string, string>): Record<string, string> {
  const secrets = secretArgsOf(program);
  if (secrets.length === 0) return args;
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, secrets.includes(k) ? '(redacted)' : v]));
}
