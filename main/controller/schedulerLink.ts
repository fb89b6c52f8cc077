/**
 * The controller's link to the ISP-wide scheduler, as a client of the
 * scheduler's contract with the `controller` role: hello, subscribe to
 * `controller.commands`, answer each command with `controller.answer`,
 * report every `reportIntervalMs` and whenever something changed, and
 * reconcile through `controller.assignments` after every (re)connect.
 *
 * Reconnects back off exponentially with +-30% jitter, so a scheduler restart
 * is not met by every cloudlet at the same instant. A report that fails is
 * simply retried by the next one; what it carried (VI changes, audit entries)
 * stays pending until a report is acknowledged.
 */
import { readFileSync } from 'node:fs';
import { RpcClient } from '../protocol/client.ts';
import { describeIssues } from '../protocol/dispatcher.ts';
import { ControllerCommandSchema, ReservationSchema, type ControllerCommand, type ControllerReport, type Reservation } from '../protocol/domain.ts';
import { schedulerApi } from '../protocol/schedulerApi.ts';

export interface SchedulerLinkOptions {
  url: string;
  token: string;
  caFile?: string;
  controllerUrl: string;
  software: string;
  backoffMs: number;
  maxBackoffMs: number;
  reportIntervalMs: number;
  /** Builds the next report; `commit` is called once the scheduler acknowledged it. */
  buildReport: () => { report: ControllerReport; commit: () => void };
  onCommand: (command: ControllerCommand) => Promise<{ ok: boolean; reason?: string }>;
  onConnected: (assignments: Reservation[]) => Promise<void> | void;
  onStatus: (connected: boolean, detail: string) => void;
  log: (line: string) => void;
}

/** Exponential backoff with +-30% jitter: attempt 0 waits about `base`. */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number = Math.random): number {
  const raw = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.round(raw * (0.7 + 0.6 * random()));
}

export class SchedulerLink {
  private o: SchedulerLinkOptions;
  private client: RpcClient<typeof schedulerApi> | undefined;
  private attempt = 0;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private reporting = false;
  private reportAgain = false;
  reportsSent = 0;

  constructor(options: SchedulerLinkOptions) {
    this.o = options;
  }

  /** Where consoles reach this controller: known once the console API listens. */
  setControllerUrl(url: string): void {
    this.o = { ...this.o, controllerUrl: url };
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.reportTimer);
    this.client?.close();
  }

  private scheduleReconnect(why: string): void {
    if (this.stopped) return;
    clearInterval(this.reportTimer);
    const delay = backoffDelay(this.attempt++, this.o.backoffMs, this.o.maxBackoffMs);
    this.o.onStatus(false, `${why}; retrying in ${delay} ms`);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new RpcClient(schedulerApi, {
      url: this.o.url,
      token: this.o.token,
      client: this.o.software,
      timeoutMs: 10_000,
      ...(this.o.caFile ? { ca: readFileSync(this.o.caFile) } : {}),
    });
    try {
      await client.connect();
      await client.call('controller.hello', { controllerUrl: this.o.controllerUrl, software: this.o.software });
      await client.subscribe('controller.commands', {}, (raw) => void this.handle(client, raw));
    } catch (e) {
      client.close();
      this.scheduleReconnect(`cannot reach the scheduler at ${this.o.url}: ${(e as Error).message}`);
      return;
    }
    if (this.stopped) {
      client.close();
      return;
    }
    this.client = client;
    client.onClosed((reason) => {
      if (this.client === client) this.client = undefined;
      this.scheduleReconnect(`lost the scheduler at ${this.o.url} (${reason})`);
    });
    this.attempt = 0;
    this.o.onStatus(true, `connected to ${this.o.url}`);
    try {
      const { reservations } = await client.call('controller.assignments', {});
      await this.o.onConnected(ReservationSchema.array().parse(reservations));
    } catch (e) {
      this.o.log(`reconciling with the scheduler failed: ${(e as Error).message}`);
    }
    this.reportNow();
    this.reportTimer = setInterval(() => this.reportNow(), this.o.reportIntervalMs);
    this.reportTimer.unref();
  }

  /** Every command is schema-checked here too: the client side of a hop trusts nothing it did not check. */
  private async handle(client: RpcClient<typeof schedulerApi>, raw: unknown): Promise<void> {
    const parsed = ControllerCommandSchema.safeParse(raw);
    if (!parsed.success) {
      const commandId = typeof raw === 'object' && raw !== null && 'commandId' in raw && typeof raw.commandId === 'string' ? raw.commandId.slice(0, 64) : undefined;
      const reason = `malformed command refused: ${describeIssues(parsed.error, 'command')}`;
      this.o.log(reason);
      if (commandId) await client.call('controller.answer', { commandId, ok: false, reason: reason.slice(0, 2048) }).catch(() => undefined);
      return;
    }
    const command = parsed.data;
    let answer: { ok: boolean; reason?: string };
    try {
      answer = await this.o.onCommand(command);
    } catch (e) {
      answer = { ok: false, reason: `controller error on ${command.kind}: ${(e as Error).message}` };
    }
    try {
      await client.call('controller.answer', { commandId: command.commandId, ok: answer.ok, ...(answer.reason ? { reason: answer.reason.slice(0, 2048) } : {}) });
    } catch (e) {
      this.o.log(`could not answer ${command.kind} ${command.commandId}: ${(e as Error).message}`);
    }
  }

  /** Sends a report now (coalesced: one in flight, one queued). */
  reportNow(): void {
    if (!this.client?.connected) return;
    if (this.reporting) {
      this.reportAgain = true;
      return;
    }
    this.reporting = true;
    const client = this.client;
    const { report, commit } = this.o.buildReport();
    client
      .call('controller.report', report)
      .then(() => {
        this.reportsSent++;
        commit();
      })
      .catch((e: unknown) => this.o.log(`report not delivered: ${(e as Error).message}`))
      .finally(() => {
        this.reporting = false;
        if (this.reportAgain) {
          this.reportAgain = false;
          this.reportNow();
        }
      });
  }

  /** The reservations this cloudlet must host, from the scheduler (for a start without a prior prepare). */
  async assignments(): Promise<Reservation[]> {
    if (!this.client?.connected) throw new Error('the scheduler is not connected');
    return ReservationSchema.array().parse((await this.client.call('controller.assignments', {})).reservations);
  }
}
