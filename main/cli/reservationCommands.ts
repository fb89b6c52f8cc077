/**
 * pcctl commands for providers (reserve, list, cancel, resize) and operators
 * (pending, approve, decline, explain), all over the scheduler contract.
 * Connection: --url (or PCLOUD_SCHEDULER_URL, default ws://127.0.0.1:7400)
 * and --token / --token-file (or PCLOUD_TOKEN). Every command prints a short
 * human summary, or the scheduler's answer as JSON with --json. Errors say
 * what the scheduler refused and why; exit 1 for refusals, 2 for usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RpcClient } from '../protocol/client.ts';
import type { Reservation, ReservationRequest, Resources } from '../protocol/domain.ts';
import { errorCodeName, isRpcError } from '../protocol/errors.ts';
import { schedulerApi, type Explanation, type SchedulerApi } from '../protocol/schedulerApi.ts';
import { UsageError, type Command } from './command.ts';
import { formatTime, parseTime, profileFileHelp, readProfile, timeForms } from './reservationTimes.ts';

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

const connectionOptions = {
  url: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

const capacityOptions = {
  cpu: { type: 'string' },
  mem: { type: 'string' },
  disk: { type: 'string' },
  net: { type: 'string' },
} as const;

const requestOptions = {
  ...capacityOptions,
  pop: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  cloudlet: { type: 'string' },
  profile: { type: 'string' },
  program: { type: 'string' },
  mode: { type: 'string' },
  rules: { type: 'string' },
  spec: { type: 'string' },
  'request-id': { type: 'string' },
} as const;

const requestDetails = `times (--from, --to): ${timeForms}
${profileFileHelp}`;

const connectionHelp = `connection: --url URL (PCLOUD_SCHEDULER_URL), --token T or --token-file F (PCLOUD_TOKEN); --json prints the answer as JSON`;

export const defaultSchedulerUrl = 'ws://127.0.0.1:7400';

export async function connectScheduler(values: Values): Promise<RpcClient<SchedulerApi>> {
  const given = (values.url as string | undefined) ?? process.env.PCLOUD_SCHEDULER_URL;
  const url = given ?? defaultSchedulerUrl;
  const tokenFile = values['token-file'] as string | undefined;
  const token = (values.token as string | undefined) ?? (tokenFile ? readFileSync(tokenFile, 'utf8').trim() : undefined) ?? process.env.PCLOUD_TOKEN;
  if (!token) throw new UsageError('no token: pass --token, --token-file, or set PCLOUD_TOKEN');
  const client = new RpcClient(schedulerApi, { url, token, client: 'pcctl', timeoutMs: 60_000 });
  try {
    await client.connect();
  } catch (e) {
    client.close();
    // Without --url the default is a guess: say so, rather than leave a bare ECONNREFUSED.
    if (!given) throw new UsageError(`--url is missing (or set PCLOUD_SCHEDULER_URL), and no scheduler answers at the default ${defaultSchedulerUrl}: ${(e as Error).message}`);
    throw e;
  }
  return client;
}

function num(values: Values, name: string): number | undefined {
  const raw = values[name] as string | undefined;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} ${raw}: expected a non-negative number`);
  return n;
}

function time(raw: string | undefined, name: string, now: number, slotMs: number): number {
  if (raw === undefined) throw new UsageError(`--${name} is required (${timeForms})`);
  return parseTime(raw, `--${name}`, now, slotMs);
}

function capacity(values: Values, fallback?: Resources): Resources {
  const pick = (name: string, key: keyof Resources): number => {
    const v = num(values, name) ?? fallback?.[key];
    if (v === undefined) throw new UsageError(`--${name} is required`);
    return v;
  };
  return { cpu: pick('cpu', 'cpu'), memMiB: pick('mem', 'memMiB'), diskGiB: pick('disk', 'diskGiB'), netMbps: pick('net', 'netMbps') };
}

function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

async function buildRequest(client: RpcClient<SchedulerApi>, values: Values): Promise<ReservationRequest> {
  if (values.spec) return readJson(values.spec as string, 'request spec') as ReservationRequest;
  const info = await client.call('scheduler.info', {});
  const pop = values.pop as string | undefined;
  if (!pop) throw new UsageError('--pop (the requestor PoP) is required');
  const fromProfile = values.profile ? readProfile(values.profile as string, info.now, info.slotMs) : undefined;
  const t0 = values.from === undefined && fromProfile ? (fromProfile[0]?.from as number) : time(values.from as string | undefined, 'from', info.now, info.slotMs);
  const t1 = values.to === undefined && fromProfile ? (fromProfile.at(-1)?.to as number) : time(values.to as string | undefined, 'to', info.now, info.slotMs);
  const profile = fromProfile ?? [{ from: t0, to: t1, capacity: capacity(values) }];
  const mode = (values.mode as string | undefined) ?? 'transparent';
  if (mode !== 'visible' && mode !== 'transparent') throw new UsageError(`--mode ${mode}: expected visible or transparent`);
  return {
    requestorPopId: pop,
    ...(values.cloudlet ? { preferredCloudletId: values.cloudlet as string } : {}),
    t0,
    t1,
    profile,
    service: {
      mode,
      program: (values.program as string | undefined) ?? 'monitor',
      args: {},
      rules: values.rules ? (readJson(values.rules as string, 'rules') as ReservationRequest['service']['rules']) : [],
    },
    ...(values['request-id'] ? { clientRequestId: values['request-id'] as string } : {}),
  };
}


/** Amounts with the scheduler's currency ("12.5 EUR"). */
type Money = (amount: number) => string;

async function moneyOf(client: RpcClient<SchedulerApi>): Promise<Money> {
  const { currency } = await client.call('scheduler.info', {});
  return (amount) => `${amount} ${currency}`;
}

/** An active reservation whose VI's router flows are missing: its VI runs but gets no traffic. */
function notServing(r: Reservation): string | undefined {
  return r.routerFlows && !r.routerFlows.installed ? `not serving: ${r.routerFlows.detail}` : undefined;
}

function line(r: Reservation, money: Money): string {
  const where = r.nodeId ? `${r.cloudletId}/${r.nodeId}` : '-';
  const head = `${r.id.padEnd(9)} ${r.state.padEnd(16)} ${r.providerId.padEnd(10)} ${formatTime(r.t0)} .. ${formatTime(r.t1)}  ${where.padEnd(14)} price ${money(r.price)} paid ${money(r.paid)}`;
  const problem = notServing(r);
  return problem ? `${head}\n  ${problem}` : head;
}

function describe(r: Reservation, money: Money): string {
  const head = line(r, money);
  return r.reason ? `${head}\n  ${r.reason}\n` : `${head}\n`;
}

/** Everything about one reservation: its line, service, whether it serves traffic, and its transitions. */
function detail(r: Reservation, money: Money): string {
  const out = [describe(r, money).trimEnd()];
  out.push(`  service: ${r.service.program} (${r.service.mode}), ${r.service.rules.length} rule(s)`);
  if (r.routerFlows?.installed) out.push(`  serving: ${r.routerFlows.detail}`);
  for (const t of r.transitions ?? []) out.push(`  ${formatTime(t.at)}  ${(t.from ?? '-').padEnd(16)} -> ${t.to.padEnd(16)} ${t.actor}: ${t.reason}`);
  return `${out.join('\n')}\n`;
}

function explanationText(e: Explanation, money: Money): string {
  const out = [`${e.decision}: ${e.reason}`, `price: ${money(e.price)}`, 'candidates (closest first):'];
  for (const c of e.candidates) {
    const head = `  ${c.cloudletId} at ${c.popId}, ${c.distanceMs ?? 'unreachable'} ms${c.preferred ? ' (preferred)' : ''}`;
    if (c.skipped) {
      out.push(`${head}: ${c.skipped}`);
      continue;
    }
    out.push(`${head}: ${c.nodesFitting} of ${c.nodesChecked} nodes fit`);
    for (const n of c.nodes.slice(0, 8)) out.push(`    ${n.nodeId}: ${n.reason}`);
  }
  if (e.headroom) {
    out.push(`headroom on ${e.headroom.nodeId}:`);
    for (const p of e.headroom.points.slice(0, 24)) {
      out.push(`  ${formatTime(p.from)} .. ${formatTime(p.to)}  cpu ${p.free.cpu}  mem ${p.free.memMiB} MiB  disk ${p.free.diskGiB} GiB  net ${p.free.netMbps} Mbps`);
    }
  }
  return `${out.join('\n')}\n`;
}

type Handler = (client: RpcClient<SchedulerApi>, values: Values, positionals: string[]) => Promise<{ json: unknown; text: string; exit?: number }>;

function command(name: string, summary: string, usage: string, options: Record<string, { type: 'string' | 'boolean' }>, handler: Handler, details = ''): Command {
  const help = `usage: pcctl ${name} ${usage}\n${details ? `${details}\n` : ''}${connectionHelp}\n`;
  return {
    summary,
    async run(args) {
      let client: RpcClient<SchedulerApi> | undefined;
      try {
        const { values, positionals } = parseArgs({ args, options: { ...connectionOptions, ...options }, allowPositionals: true, strict: true });
        if (values.help) {
          process.stdout.write(help);
          return 0;
        }
        client = await connectScheduler(values);
        const out = await handler(client, values, positionals);
        process.stdout.write(values.json ? `${JSON.stringify(out.json, null, 2)}\n` : out.text);
        return out.exit ?? 0;
      } catch (e) {
        if (isRpcError(e)) {
          process.stderr.write(`pcctl ${name}: ${e.message} (${errorCodeName(e.code)})\n`);
          return 1;
        }
        const code = (e as { code?: unknown }).code;
        if (e instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
          process.stderr.write(`pcctl ${name}: ${(e as Error).message}\n\n${help}`);
          return 2;
        }
        throw e;
      } finally {
        client?.close();
      }
    },
  };
}

function idOf(positionals: string[], what: string): string {
  const id = positionals[0];
  if (!id) throw new UsageError(`which reservation? pcctl ${what} RESERVATION-ID`);
  return id;
}

function reasonOf(values: Values, required: boolean, fallback: string): string {
  const reason = values.reason as string | undefined;
  if (!reason && required) throw new UsageError('--reason is required: say why');
  return reason ?? fallback;
}

const listOptions = { state: { type: 'string' }, provider: { type: 'string' }, cloudlet: { type: 'string' }, limit: { type: 'string' } } as const;

async function list(client: RpcClient<SchedulerApi>, values: Values, states?: string[]): Promise<{ json: unknown; text: string }> {
  const wanted = states ?? (values.state ? (values.state as string).split(',') : undefined);
  const { reservations } = await client.call('reservation.list', {
    ...(wanted ? { states: wanted as Reservation['state'][] } : {}),
    ...(values.provider ? { providerId: values.provider as string } : {}),
    ...(values.cloudlet ? { cloudletId: values.cloudlet as string } : {}),
    limit: num(values, 'limit') ?? 500,
  });
  const money = await moneyOf(client);
  return { json: reservations, text: reservations.length ? `${reservations.map((r) => line(r, money)).join('\n')}\n` : 'no reservations\n' };
}

export const reservationCommands: Record<string, Command> = {
  reserve: command(
    'reserve',
    'ask the scheduler for capacity over time (provider)',
    '--pop POP (--from T --to T --cpu N --mem MiB --disk GiB --net Mbps | --profile FILE) [--cloudlet C] [--program P] [--mode visible|transparent] [--rules FILE] [--spec FILE] [--request-id ID]',
    requestOptions,
    async (client, values) => {
      const r = await client.call('reservation.request', await buildRequest(client, values));
      const failed = r.state === 'declined' || r.state === 'failed';
      return { json: r, text: describe(r, await moneyOf(client)), exit: failed ? 1 : 0 };
    },
    requestDetails,
  ),
  show: command('show', 'one reservation: its state, whether its VI serves traffic, its transitions (providers see their own)', 'RESERVATION-ID', {}, async (client, _values, positionals) => {
    const r = await client.call('reservation.get', { id: idOf(positionals, 'show') });
    return { json: r, text: detail(r, await moneyOf(client)) };
  }),
  list: command('list', 'list reservations (providers see their own)', '[--state S,S] [--provider P] [--cloudlet C] [--limit N]', listOptions, (client, values) => list(client, values)),
  cancel: command('cancel', 'cancel a reservation; refund F x (tB - tC) / (tB - tA) before its start', 'RESERVATION-ID --reason TEXT', { reason: { type: 'string' } }, async (client, values, positionals) => {
    const out = await client.call('reservation.cancel', { id: idOf(positionals, 'cancel'), reason: reasonOf(values, false, 'cancelled by the provider') });
    const money = await moneyOf(client);
    return { json: out, text: `${describe(out.reservation, money)}refund: ${money(out.refund)}\n` };
  }),
  resize: command(
    'resize',
    'scale a reservation from the next slot (or --from) to its end; shrinking a running VI costs a fine',
    'RESERVATION-ID [--cpu N] [--mem MiB] [--disk GiB] [--net Mbps] [--from T] [--reason TEXT]',
    { ...capacityOptions, from: { type: 'string' }, reason: { type: 'string' } },
    async (client, values, positionals) => {
      const id = idOf(positionals, 'resize');
      const current = await client.call('reservation.get', { id });
      const last = current.profile.at(-1)?.capacity;
      const info = values.from ? await client.call('scheduler.info', {}) : undefined;
      const out = await client.call('reservation.resize', {
        id,
        capacity: capacity(values, last),
        ...(info ? { from: time(values.from as string, 'from', info.now, info.slotMs) } : {}),
        reason: reasonOf(values, false, 'resize'),
      });
      const money = await moneyOf(client);
      return { json: out, text: `${describe(out.reservation, money)}charge: ${money(out.charge)}  refund: ${money(out.refund)}  fine: ${money(out.fine)}\n` };
    },
  ),
  refusals: command(
    'refusals',
    'declined requests, counted per provider, request shape and reason (providers see their own)',
    '[--provider P] [--limit N]',
    { provider: { type: 'string' }, limit: { type: 'string' } },
    async (client, values) => {
      const { refusals } = await client.call('refusal.list', { ...(values.provider ? { providerId: values.provider as string } : {}), limit: num(values, 'limit') ?? 500 });
      const text = refusals.map((r) => `${String(r.count).padStart(6)}x ${r.kind.padEnd(30)} ${r.providerId.padEnd(10)} ${formatTime(r.firstAt)} .. ${formatTime(r.lastAt)}  ${r.id}\n  ${r.shape}\n  ${r.lastReason}\n`);
      return { json: refusals, text: text.length ? text.join('') : 'no refusals\n' };
    },
  ),
  pending: command('pending', 'admitted requests waiting for approval (operator)', '[--provider P] [--limit N]', listOptions, (client, values) => list(client, values, ['pending_approval'])),
  approve: command('approve', 'approve an admitted request; the scheduler then confirms it with the controller (operator)', 'RESERVATION-ID [--reason TEXT]', { reason: { type: 'string' } }, async (client, values, positionals) => {
    const r = await client.call('reservation.approve', { id: idOf(positionals, 'approve'), reason: reasonOf(values, false, 'approved') });
    return { json: r, text: describe(r, await moneyOf(client)), exit: r.state === 'failed' ? 1 : 0 };
  }),
  decline: command('decline', 'decline an admitted request, saying why (operator)', 'RESERVATION-ID --reason TEXT', { reason: { type: 'string' } }, async (client, values, positionals) => {
    const r = await client.call('reservation.decline', { id: idOf(positionals, 'decline'), reason: reasonOf(values, true, '') });
    return { json: r, text: describe(r, await moneyOf(client)) };
  }),
  explain: command(
    'explain',
    'the admission analysis of a reservation, or of a request not yet made',
    'RESERVATION-ID | --pop POP --from T --to T --cpu N ... [--provider P]',
    { ...requestOptions, provider: { type: 'string' } },
    async (client, values, positionals) => {
      if (positionals[0]) {
        const e = await client.call('admission.explain', { reservationId: positionals[0] });
        return { json: e, text: explanationText(e, await moneyOf(client)) };
      }
      const request = await buildRequest(client, values);
      try {
        const e = await client.call('admission.explain', { request, ...(values.provider ? { providerId: values.provider as string } : {}) });
        return { json: e, text: explanationText(e, await moneyOf(client)) };
      } catch (e) {
        // An operator explains on a provider's behalf: the scheduler needs to know whose request it would be.
        if (isRpcError(e) && e.message.startsWith('params.providerId')) throw new UsageError('--provider P is required when an operator explains a request (whose request would it be?)');
        throw e;
      }
    },
    requestDetails,
  ),
};
