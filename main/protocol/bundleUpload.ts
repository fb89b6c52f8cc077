/**
 * A provider's bundle sent through the scheduler (`reservation.upload`): in
 * chunks of at most BUNDLE_CHUNK_BYTES, in order, the last with the SHA-256
 * of the whole, which the controller holding the reservation checks before it
 * stores the bundle (main/controller/uploads.ts). Used by `pcctl upload` and
 * by the lab session, which uploads as the lab's provider.
 */
import { createHash } from 'node:crypto';
import type { RpcClient } from './client.ts';
import { BUNDLE_CHUNK_BYTES } from './domain.ts';
import type { SchedulerApi } from './schedulerApi.ts';

/** The controller's answer to the last chunk (the bundle stored, or why not). */
export async function uploadBundleInChunks(client: RpcClient<SchedulerApi>, id: string, bundle: Buffer, reason: string): Promise<{ id: string; received: number; stored: boolean; detail: string }> {
  if (bundle.length === 0) throw new Error(`the bundle for reservation ${id} is empty`);
  const sha256 = createHash('sha256').update(bundle).digest('hex');
  for (let offset = 0; ; offset += BUNDLE_CHUNK_BYTES) {
    const chunk = bundle.subarray(offset, offset + BUNDLE_CHUNK_BYTES);
    const last = offset + chunk.length >= bundle.length;
    const answer = await client.call('reservation.upload', { id, offset, total: bundle.length, chunk: chunk.toString('base64'), reason, ...(last ? { sha256 } : {}) });
    if (last) return answer;
  }
}
