import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import type { TerminalFrame } from '../protocol/consoleApi.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { TerminalSessions, resolveLocalShell } from './terminals.ts';

const sessions: TerminalSessions[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.closeAll()));
});

function make(options: ConstructorParameters<typeof TerminalSessions>[0] = {}): TerminalSessions {
  const s = new TerminalSessions({ killGraceMs: 500, ...options });
  sessions.push(s);
  return s;
}

function collect(): { frames: TerminalFrame[]; text: () => string; listener: (f: TerminalFrame) => void } {
  const frames: TerminalFrame[] = [];
  return {
    frames,
    text: () => frames.map((f) => (f.kind === 'data' ? f.data : '')).join(''),
    listener: (f) => frames.push(f),
  };
}

function isAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

describe('terminal sessions', () => {
  test('a session spawns the shell on attach and streams its output', async () => {
    const terms = make({ resolve: () => ({ ...resolveLocalShell({ kind: 'local' }), file: '/bin/sh' }) });
    const { sessionId, attachToken } = terms.open('w1', { kind: 'local' }, 80, 24);
    const out = collect();
    terms.attach('w1', sessionId, attachToken, out.listener);
    terms.input('w1', sessionId, 'echo "ma""rker-42"\n');
    await expect.poll(out.text, { timeout: 10_000 }).toContain('marker-42');
    expect(out.frames[0]).toMatchObject({ kind: 'status', level: 'info' });
  });

  test('the attach token is single-use', () => {
    const terms = make();
    const { sessionId, attachToken } = terms.open('w1', { kind: 'local' }, 80, 24);
    terms.attach('w1', sessionId, attachToken, () => undefined);
    expect(() => terms.attach('w1', sessionId, attachToken, () => undefined)).toThrow(expect.objectContaining({ code: ErrorCode.Forbidden }));
  });

  test("another window cannot touch a session it does not own", () => {
    const terms = make();
    const { sessionId } = terms.open('w1', { kind: 'local' }, 80, 24);
    expect(() => terms.input('w2', sessionId, 'x')).toThrow(expect.objectContaining({ code: ErrorCode.NotFound }));
    expect(() => terms.close('w2', sessionId)).toThrow(expect.objectContaining({ code: ErrorCode.NotFound }));
  });

  test('a shell that cannot start is reported inside the terminal, not left connecting', () => {
    const terms = make({ resolve: () => ({ file: '/nonexistent/shell', args: [], env: {}, cwd: '/', title: 'broken' }) });
    const { sessionId, attachToken } = terms.open('w1', { kind: 'local' }, 80, 24);
    const out = collect();
    terms.attach('w1', sessionId, attachToken, out.listener);
    expect(out.frames).toEqual([
      { kind: 'status', level: 'error', message: expect.stringMatching(/cannot start \/nonexistent\/shell/) },
      { kind: 'exit', exitCode: null, signal: null },
    ]);
  });

  test('closing the owner ends its processes, and only those', async () => {
    const terms = make({ resolve: () => ({ ...resolveLocalShell({ kind: 'local' }), file: '/bin/sh' }) });
    const a = terms.open('w1', { kind: 'local' }, 80, 24);
    const b = terms.open('w2', { kind: 'local' }, 80, 24);
    const outA = collect();
    const outB = collect();
    terms.attach('w1', a.sessionId, a.attachToken, outA.listener);
    terms.attach('w2', b.sessionId, b.attachToken, outB.listener);
    const pidA = terms.list('w1')[0]?.pid as number;
    const pidB = terms.list('w2')[0]?.pid as number;
    terms.closeOwnedBy('w1');
    await expect.poll(() => outA.frames.some((f) => f.kind === 'exit'), { timeout: 5000 }).toBe(true);
    expect(isAlive(pidA)).toBe(false);
    expect(isAlive(pidB)).toBe(true);
  });

  test('a shell set up for a connection ends, saying why, when the console leaves that connection; a local shell stays', async () => {
    const shell = resolveLocalShell({ kind: 'local' });
    const terms = make({ resolve: (target) => ({ ...shell, file: '/bin/sh', ...(target.kind === 'connection' ? { connection: 'deterlab ws://127.0.0.1:1' } : {}) }) });
    const pcctl = terms.open('w1', { kind: 'connection' }, 80, 24);
    const local = terms.open('w1', { kind: 'local' }, 80, 24);
    const pcctlOut = collect();
    terms.attach('w1', pcctl.sessionId, pcctl.attachToken, pcctlOut.listener);
    terms.attach('w1', local.sessionId, local.attachToken, () => undefined);
    terms.endConnectionSessions('deterlab ws://127.0.0.1:1', () => 'not this one');
    expect(terms.list('w1').map((s) => s.state)).toEqual(['running', 'running']);
    terms.endConnectionSessions(undefined, (key) => `the console left ${key}`);
    expect(pcctlOut.frames).toContainEqual({ kind: 'status', level: 'error', message: 'the console left deterlab ws://127.0.0.1:1' });
    await expect.poll(() => pcctlOut.frames.some((f) => f.kind === 'exit'), { timeout: 10_000 }).toBe(true);
    expect(terms.list('w1').map((s) => s.sessionId)).toEqual([local.sessionId]);
  });
});
