import { mount } from '@vue/test-utils';
import { expect, test } from 'vitest';
import ConfirmDialog from './ConfirmDialog.vue';

const base = { title: 'Cancel this reservation', path: ['R1', 'C1', 'C11', 'r-42'], confirmLabel: 'Cancel reservation' };

test('shows the full path and the consequence', () => {
  const wrapper = mount(ConfirmDialog, { props: { ...base, consequence: 'Refund to the provider: 3.20 EUR.' } });
  expect(wrapper.get('[data-testid="confirm-path"]').text()).toBe('R1 › C1 › C11 › r-42');
  expect(wrapper.get('[data-testid="confirm-consequence"]').text()).toBe('Refund to the provider: 3.20 EUR.');
});

test('will not confirm without a reason, or before the name is typed exactly', async () => {
  const wrapper = mount(ConfirmDialog, { props: { ...base, destructive: true, typeToConfirm: 'r-42' } });
  const ok = wrapper.get('[data-testid="confirm-ok"]');
  expect(ok.attributes('disabled')).toBeDefined();
  await wrapper.get('[data-testid="confirm-reason"]').setValue('customer asked');
  expect(ok.attributes('disabled')).toBeDefined();
  await wrapper.get('[data-testid="confirm-typed"]').setValue('r-4');
  expect(ok.attributes('disabled')).toBeDefined();
  await wrapper.get('[data-testid="confirm-typed"]').setValue('r-42');
  expect(ok.attributes('disabled')).toBeUndefined();
  await ok.trigger('click');
  expect(wrapper.emitted('confirm')).toEqual([['customer asked']]);
});

test('Escape and the backdrop cancel', async () => {
  const wrapper = mount(ConfirmDialog, { props: base });
  await wrapper.get('[role="dialog"]').trigger('keydown', { key: 'Escape' });
  await wrapper.get('.backdrop').trigger('click');
  expect(wrapper.emitted('cancel')).toHaveLength(2);
});

test('a busy dialog (quote still coming) cannot be confirmed', async () => {
  const wrapper = mount(ConfirmDialog, { props: { ...base, askReason: false, busy: true } });
  expect(wrapper.get('[data-testid="confirm-ok"]').attributes('disabled')).toBeDefined();
  expect(wrapper.get('[data-testid="confirm-ok"]').text()).toBe('Working…');
});

test('the type-to-confirm prompt is one phrase, kept on one line', () => {
  const wrapper = mount(ConfirmDialog, { props: { ...base, typeToConfirm: 'r-4' } });
  const prompt = wrapper.get('label:has([data-testid="confirm-typed"]) > .prompt');
  expect(prompt.text()).toBe('Type r-4 to confirm');
  // One grid item, not three: the label's children are the prompt and the input.
  expect(wrapper.get('label:has([data-testid="confirm-typed"])').element.children).toHaveLength(2);
});
