import { expect, test } from 'vitest';
import { BoundedQueue } from './boundedQueue.ts';

test('a full queue drops its oldest item and reports the loss with the next take', () => {
  const q = new BoundedQueue<number>(3);
  for (let i = 1; i <= 5; i++) q.push(i);
  expect(q.length).toBe(3);
  expect(q.take()).toEqual({ item: 3, lost: 2 });
  expect(q.take()).toEqual({ item: 4, lost: 0 });
  q.push(6);
  expect(q.take()).toEqual({ item: 5, lost: 0 });
  expect(q.take()).toEqual({ item: 6, lost: 0 });
  expect(q.take()).toBeUndefined();
  expect(q.dropped).toBe(2);
});

test('capacity must be a positive integer', () => {
  expect(() => new BoundedQueue(0)).toThrow(/positive integer/);
});

test('items lost before a push (upstream of a relay) count with it', () => {
  const q = new BoundedQueue<number>(2);
  q.push(1);
  q.push(2, 5);
  q.push(3); // drops 1
  expect(q.take()).toEqual({ item: 2, lost: 6 });
  expect(q.take()).toEqual({ item: 3, lost: 0 });
  expect(q.dropped).toBe(6);
});
