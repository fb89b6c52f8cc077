/**
 * How terminals look. The line height is above 1: at 1.0 xterm's rows are
 * exactly the font size tall and the underscore, drawn below the baseline,
 * is clipped by the next row ("PCLOUD_TOKEN" read "PCLOUD TOKEN").
 */
import type { ITerminalOptions } from '@xterm/xterm';

export const terminalLineHeight = 1.2;

export function terminalOptions(css: (name: string) => string): ITerminalOptions {
  return {
    fontFamily: css('--font-mono') || 'monospace',
    fontSize: 14,
    lineHeight: terminalLineHeight,
    cursorBlink: true,
    scrollback: 5000,
    theme: { background: css('--terminal-bg'), foreground: css('--terminal-fg') },
  };
}
