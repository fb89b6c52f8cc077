import { describe, expect, test } from 'vitest';
import { loadBetween, parseDumpPorts } from './routerLinkLoad.ts';

// As Open vSwitch 3 prints it (ovs-ofctl -O OpenFlow13 --no-names dump-ports), with the LOCAL port and a port whose counters the datapath does not keep.
const dump = `OFPST_PORT reply (OF1.3) (xid=0x2): 4 ports
  port LOCAL: rx pkts=0, bytes=0, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=0, bytes=0, drop=0, errs=0, coll=0
           duration=12.345s
  port  1: rx pkts=2400, bytes=2500800, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=12, bytes=1080, drop=0, errs=0, coll=0
           duration=12.345s
  port  2: rx pkts=12, bytes=1080, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=2400, bytes=2500800, drop=0, errs=0, coll=0
           duration=12.345s
  port  3: rx pkts=?, bytes=?, drop=?, errs=?, frame=?, over=?, crc=?
           tx pkts=?, bytes=?, drop=?, errs=?, coll=?
`;

describe("link loads from the router's port counters", () => {
  test('dump-ports: bytes each way per numbered port; LOCAL and ports without counters left out', () => {
    expect([...parseDumpPorts(dump)]).toEqual([
      [1, { rx: 2500800, tx: 1080 }],
      [2, { rx: 1080, tx: 2500800 }],
    ]);
    expect(parseDumpPorts('')).toEqual(new Map());
  });

  test('two reads make bit rates: what the port sent went from its router to the other end', () => {
    const port = { port: 'l0', from: 'R1', to: 'R2' };
    const load = loadBetween(port, { at: 10_000, bytes: { rx: 1000, tx: 5000 } }, { at: 12_000, bytes: { rx: 3000, tx: 255_000 } });
    expect(load).toEqual({ a: 'R1', b: 'R2', abBps: 1_000_000, baBps: 8000, periodSeconds: 2, at: 12_000, measuredAt: 'R1' });
  });

  test('counters that went backwards (the port was re-created) or no time between reads give no load, not a wrong one', () => {
    const port = { port: 'l0', from: 'R1', to: 'R2' };
    expect(loadBetween(port, { at: 10_000, bytes: { rx: 1000, tx: 5000 } }, { at: 12_000, bytes: { rx: 10, tx: 9000 } })).toBeUndefined();
    expect(loadBetween(port, { at: 10_000, bytes: { rx: 1000, tx: 5000 } }, { at: 10_000, bytes: { rx: 2000, tx: 9000 } })).toBeUndefined();
  });
});
