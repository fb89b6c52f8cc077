/**
 * Typed calls to the connected scheduler (and, later, controllers), relayed by
 * the console backend, which holds the connections and their tokens. Types come
 * from the daemons' contracts; the values travel through the console API.
 */
import type { ItemOf, MethodName, ParamsIn, ResultOf, TopicName, TopicParamsIn } from '../../main/protocol/contract.ts';
import type { SchedulerApi } from '../../main/protocol/schedulerApi.ts';
import { useApi } from './index.ts';

export async function schedulerCall<K extends MethodName<SchedulerApi>>(method: K, params: ParamsIn<SchedulerApi, K>): Promise<ResultOf<SchedulerApi, K>> {
  return (await useApi().scheduler.call({ method, params })) as ResultOf<SchedulerApi, K>;
}

export function schedulerSubscribe<K extends TopicName<SchedulerApi>>(
  topic: K,
  params: TopicParamsIn<SchedulerApi, K>,
  onItem: (item: ItemOf<SchedulerApi, K>, lost: number) => void,
): Promise<() => Promise<void>> {
  return useApi().subscribe('scheduler.subscribe', { topic, params }, (item, lost) => onItem(item as ItemOf<SchedulerApi, K>, lost));
}
