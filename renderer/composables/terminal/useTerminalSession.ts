/**
 * Joins one xterm instance to one backend terminal session: attaches the
 * frame stream with the single-use token, writes output, shows status and
 * exit frames inside the terminal itself, and sends keystrokes and sizes back.
 */
import type { Terminal } from '@xterm/xterm';
import type { TerminalFrame } from '../../../main/protocol/consoleApi.ts';
import { toApiError, useApi } from '../../api/index.ts';
import type { TerminalTabState } from '../../stores/terminals.ts';

const red = (text: string): string => `\r\n\x1b[1;31m${text}\x1b[0m\r\n`;
const dim = (text: string): string => `\x1b[2m${text}\x1b[0m\r\n`;

export function describeExit(frame: Extract<TerminalFrame, { kind: 'exit' }>): string {
  if (frame.signal) return `process ended by ${frame.signal}`;
  if (frame.exitCode === null) return 'process did not start';
  return `process exited with code ${frame.exitCode}`;
}

export interface TerminalSessionHandle {
  detach(): void;
}

export async function attachTerminal(
  term: Terminal,
  sessionId: string,
  attachToken: string,
  onState: (state: TerminalTabState, exitSummary?: string) => void,
): Promise<TerminalSessionHandle> {
  const api = useApi();
  let ended = false;
  const onFrame = (frame: TerminalFrame, lost: number): void => {
    if (lost > 0) term.write(red(`[${lost} output frames were dropped: the display fell behind]`));
    if (frame.kind === 'data') {
      term.write(frame.data);
    } else if (frame.kind === 'status') {
      if (frame.level === 'error') {
        term.write(red(frame.message));
        onState('failed');
      } else {
        term.write(dim(frame.message));
        onState('running');
      }
    } else {
      ended = true;
      const summary = describeExit(frame);
      term.write(red(`[${summary}]`));
      onState(frame.exitCode === null && !frame.signal ? 'failed' : 'exited', summary);
    }
  };
  let unsubscribe: (() => Promise<void>) | undefined;
  try {
    unsubscribe = await api.subscribe('terminal.frames', { sessionId, attachToken }, onFrame);
  } catch (e) {
    term.write(red(`cannot attach to terminal ${sessionId}: ${toApiError(e).message}`));
    onState('failed');
  }
  // The pane was fitted before the process existed: tell it the real size.
  if (unsubscribe) void api.terminal.resize({ sessionId, cols: term.cols, rows: term.rows }).catch(() => undefined);
  const input = term.onData((data) => {
    if (!ended) void api.terminal.input({ sessionId, data }).catch((e: unknown) => term.write(red(toApiError(e).message)));
  });
  const resize = term.onResize(({ cols, rows }) => {
    if (!ended) void api.terminal.resize({ sessionId, cols, rows }).catch(() => undefined);
  });
  return {
    detach() {
      input.dispose();
      resize.dispose();
      void unsubscribe?.();
    },
  };
}
