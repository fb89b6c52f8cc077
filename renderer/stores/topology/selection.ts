/** The element the operator selected (graph, outline or search), if it still exists. */
import { computed, ref, type Ref } from 'vue';
import type { TopologyIndex } from '../../composables/topology/topologyModel.ts';

export function useSelection(index: Readonly<Ref<TopologyIndex>>, onCloudlet: (cloudletId: string) => void) {
  const selectedId = ref<string>();
  const selected = computed(() => (selectedId.value ? index.value.items.get(selectedId.value) : undefined));

  function select(elementId: string | undefined): void {
    const item = elementId ? index.value.items.get(elementId) : undefined;
    selectedId.value = item ? elementId : undefined;
    // Big topologies follow VIs only where the operator looks.
    const cloudletId = item?.kind === 'cloudlet' ? item.id : item?.kind === 'node' ? item.cloudlet.id : item?.kind === 'vi' ? item.vi.cloudletId : undefined;
    if (cloudletId) onCloudlet(cloudletId);
  }

  return { selectedId, selected, select };
}
