/**
 * What a service program says about itself to the controller's catalog
 * (main/services/catalog.ts): its kind, its port, the arguments it takes and
 * whether this host can run it. Each built-in service module exports one
 * `descriptor`; the catalog collects them, and the controller checks a
 * reservation's service spec against it before it holds anything.
 *
 * A service module is also the program itself. Importing it (the catalog
 * does, in the controller) must not start it, so its body runs only under
 * runsAsProgram(): when it is the script Node was asked to run (or, bundled,
 * that script is the program's entry NAME.js, whose body the bundler moved into
 * a shared chunk), or when the controller launched it as that built-in
 * (PCLOUD_SERVICE).
 */
import { readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { ViPort } from '../../protocol/domain.ts';

export interface ServiceDescriptor {
  /** Catalog id: 'aes-encrypt', 'ipsec-tunnel', 'ids', ... */
  program: string;
  /** One line for `pcctl services`. */
  summary: string;
  mode: 'visible' | 'transparent';
  port: ViPort;
  /** The port kinds it runs on when a spec names one (default: only its port's kind). */
  portKinds?: readonly ViPort['kind'][];
  /** Schema for ServiceSpec.args (strict, clear messages). */
  args: z.ZodType<Record<string, string>>;
  /** Args whose values are secrets (keys): never logged, never returned by an API. */
  secretArgs?: readonly string[];
  /** null when this host can run it, else the reason (e.g. 'suricata not installed', 'tap ports need root'). */
  availability(host: { root: boolean }): string | null;
}

/** The environment variable naming the built-in the controller launched. */
export const SERVICE_ENV = 'PCLOUD_SERVICE';

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Whether the module at `moduleUrl` is the program this process runs (rather than imported by the catalog). */
export function runsAsProgram(program: string, moduleUrl: string): boolean {
  if (process.env[SERVICE_ENV] !== undefined) return process.env[SERVICE_ENV] === program;
  const script = process.argv[1];
  if (script === undefined) return false;
  // Bundled, the entry dist/main/NAME.js only imports the chunk that holds this module.
  return realPath(script) === realPath(fileURLToPath(moduleUrl)) || basename(script) === `${program}.js`;
}

/**
 * Secret arguments (keys) never go on a command line, which every user of the host can read in
 * /proc: the controller writes them to this file in the VI directory (0600, the VI's user), and
 * readArgs() reads it, overwrites it and removes it before the service does anything else.
 */
export const SECRET_ARGS_FILE = 'secret-args.json';

/** Overwrites a file with zeros, then removes it (best effort: a file that is gone is fine). */
export function wipeFile(path: string): void {
  try {
    const size = readFileSync(path).length;
    writeFileSync(path, Buffer.alloc(size));
  } catch {
    // not there
  }
  rmSync(path, { force: true });
}

/**
 * The program's arguments as the controller passed them (`--name=value` on the command line,
 * secrets in SECRET_ARGS_FILE), checked against its descriptor's schema.
 */
export function readArgs(descriptor: ServiceDescriptor, argv = process.argv.slice(2), dir = process.env.PCLOUD_VI_DIR): Record<string, string> {
  const args: Record<string, string> = {};
  for (const a of argv) {
    const m = /^--([^=]+)=(.*)$/s.exec(a);
    if (m?.[1] !== undefined) args[m[1]] = m[2] ?? '';
  }
  if (dir) {
    const file = join(dir, SECRET_ARGS_FILE);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // no secrets given
    }
    if (text !== undefined) {
      wipeFile(file);
      Object.assign(args, JSON.parse(text) as Record<string, string>);
    }
  }
  const parsed = descriptor.args.safeParse(args);
  if (!parsed.success) throw new Error(`${descriptor.program}: bad arguments: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** An argument holding a whole number in [min, max], written in decimal. */
export function integerArg(min: number, max: number): z.ZodString {
  return z.string().regex(/^\d+$/, { message: 'a whole number, written in digits', abort: true }).refine((v) => Number(v) >= min && Number(v) <= max, `from ${min} to ${max}`);
}

/** An argument holding a decimal number in [min, max]. */
export function numberArg(min: number, max: number): z.ZodString {
  return z.string().regex(/^\d+(\.\d+)?$/, { message: 'a number such as 0.5', abort: true }).refine((v) => Number(v) >= min && Number(v) <= max, `from ${min} to ${max}`);
}

/** An argument holding `bytes` bytes as hexadecimal (keys, IVs). */
export function hexArg(bytes: readonly number[]): z.ZodString {
  const lengths = bytes.map((b) => b * 2);
  return z.string().regex(/^[0-9a-fA-F]*$/, { message: 'hexadecimal digits only', abort: true }).refine((v) => lengths.includes(v.length), `${lengths.join(' or ')} hexadecimal digits (${bytes.join(' or ')} bytes)`);
}

/** An argument holding an IPv4 address in dotted-quad form. */
export function ipv4Arg(): z.ZodString {
  return z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, { message: 'an IPv4 address such as 198.18.51.1', abort: true }).refine((v) => v.split('.').every((o) => Number(o) <= 255), 'each part of an IPv4 address is 0 to 255');
}

/**
 * An argument that the service's own parser must accept (the parser the
 * service later runs on it): its error message is the refusal, so admission
 * and the running service say the same thing about a value.
 */
export function parsedArg(parse: (text: string) => unknown): z.ZodString {
  return z.string().superRefine((v, ctx) => {
    try {
      parse(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  });
}

/** Arguments as the catalog shows them: name, whether required, what it means. */
export interface ArgSummary {
  name: string;
  required: boolean;
  description: string;
}

/** The arguments a descriptor's schema takes (its object shape), for `service.list`. */
export function argsSummary(schema: z.ZodType): ArgSummary[] {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, field]) => ({
    name,
    required: !field.safeParse(undefined).success,
    // `.describe(...).optional()` keeps the description on the inner schema.
    description: field.description ?? (field instanceof z.ZodOptional ? (field.unwrap() as z.ZodType).description : undefined) ?? '',
  }));
}
