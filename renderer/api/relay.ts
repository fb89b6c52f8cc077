/**
 * Typed calls to the connected scheduler and to cloudlets' controllers,
 * relayed by the console backend, which holds the connections and their
 * tokens. Types come from the daemons' contracts; the values travel through
 * the console API.
 */
import type { ControllerApi } from '../../main/protocol/controllerApi.ts';
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

export async function controllerCall<K extends MethodName<ControllerApi>>(cloudletId: string, method: K, params: ParamsIn<ControllerApi, K>): Promise<ResultOf<ControllerApi, K>> {
  return (await useApi().controller.call({ cloudletId, method, params })) as ResultOf<ControllerApi, K>;
}

/**
 * A controller topic; `params` filter at the controller (vi.samples by VI, rule and direction), and
 * `lost` counts items dropped on the way before this one (the controller's queue or the relay's).
 */
export function controllerSubscribe<K extends TopicName<ControllerApi>>(
  cloudletId: string,
  topic: K,
  onItem: (item: ItemOf<ControllerApi, K>, lost: number) => void,
  params: TopicParamsIn<ControllerApi, K> = {} as TopicParamsIn<ControllerApi, K>,
): Promise<() => Promise<void>> {
  return useApi().subscribe('controller.subscribe', { cloudletId, topic, params }, (item, lost) => onItem(item as ItemOf<ControllerApi, K>, lost));
}
