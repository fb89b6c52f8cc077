/**
 * A controller's periodic report, taken in by the scheduler: node resources
 * and health (kept, and shown in the topology), VIs that ended at the cloudlet
 * (a crash or an operator's terminate there ends the reservation here too),
 * and operator actions taken at the cloudlet, which join the scheduler's audit
 * chain once each however often they are resent (a high-water mark per
 * cloudlet, stored with the entries).
 *
 * Reports come from authenticated controllers but are still checked: a node
 * that is not the reporting cloudlet's is refused with the list of its nodes,
 * and a link load that is not of a link ending at the cloudlet's PoP, with why.
 */
import type { ControllerReport } from '../protocol/domain.ts';
import { Invalid, NotFound } from '../protocol/errors.ts';
import type { Actor, AuditChain } from './audit.ts';
import type { Inventory } from './inventory.ts';
import { linkLoadProblem } from './linkLoads.ts';
import type { Store, WriteSet } from './store.ts';

export interface ReportTarget {
  readonly inventory: Inventory;
  readonly store: Store;
  readonly audit: AuditChain;
  now(): number;
  commit(ws: WriteSet): Promise<void>;
  /** Ends an active reservation of this cloudlet whose VI ended there (in its turn behind other changes to it). */
  endFromCloudlet(reservationId: string, cloudletId: string, to: 'failed' | 'terminated', actor: Actor, reason: string): Promise<void>;
}

export class ControllerReports {
  private readonly target: ReportTarget;
  /** Per cloudlet, the last controller audit entry already in our chain. */
  private readonly forwarded: Map<string, number>;

  constructor(target: ReportTarget) {
    this.target = target;
    this.forwarded = target.store.forwardedAuditHighWater();
  }

  async take(cloudletId: string, report: ControllerReport): Promise<void> {
    const { inventory, store, audit } = this.target;
    const cloudlet = inventory.cloudletById.get(cloudletId);
    if (!cloudlet) throw new NotFound(`no cloudlet "${cloudletId}"`);
    report.nodes.forEach((n, i) => {
      const node = inventory.nodeById.get(n.nodeId);
      if (!node || node.cloudletId !== cloudletId) {
        throw new Invalid(`params.nodes[${i}].nodeId: "${n.nodeId}" is not a node of cloudlet ${cloudletId} (its nodes: ${cloudlet.nodes.map((x) => x.id).slice(0, 12).join(', ')})`);
      }
    });
    (report.links ?? []).forEach((l, i) => {
      const problem = linkLoadProblem(l, cloudlet.popId, inventory.links);
      if (problem) throw new Invalid(`params.links[${i}]: ${problem}`);
    });
    const ws = store.begin();
    for (const n of report.nodes) ws.nodeReport(n.nodeId, cloudletId, report.at, n.total, n.available, n.health);
    for (const e of [...(report.audit ?? [])].sort((a, b) => a.seq - b.seq)) {
      if (e.seq <= (this.forwarded.get(cloudletId) ?? 0)) continue;
      const entry = audit.next(this.target.now(), { name: `${e.actor} @ ${cloudletId}`, role: e.role }, `controller.${e.action}`, e.target, `${e.reason} (at ${new Date(e.at).toISOString()})`);
      ws.audit(entry).forwardedAudit(cloudletId, e.seq, entry.seq);
      this.forwarded.set(cloudletId, e.seq);
    }
    // Committed first, so the audit entries reach the store in chain order.
    const reported = this.target.commit(ws);
    const actor = { name: `controller of ${cloudletId}`, role: 'controller' };
    const ended = (report.vis ?? [])
      .filter((vi) => vi.state === 'failed' || vi.state === 'terminated')
      .map((vi) =>
        vi.state === 'failed'
          ? this.target.endFromCloudlet(vi.reservationId, cloudletId, 'failed', actor, `the VI failed on node ${vi.nodeId}: ${vi.reason}`)
          : this.target.endFromCloudlet(vi.reservationId, cloudletId, 'terminated', actor, `terminated at the cloudlet: ${vi.reason}`),
      );
    await Promise.all([reported, ...ended]);
  }
}
