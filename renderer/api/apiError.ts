/**
 * One error shape for the renderer, whichever transport carried the call.
 * The preload encodes the wire code as a "[rpc CODE]" suffix because Electron's
 * contextBridge keeps only an Error's message.
 */
export class ApiError extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }
}

const codeSuffix = / \[rpc (-?\d+)\]$/;

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const raw = e instanceof Error ? e.message : String(e);
  // Electron prefixes "Error invoking remote method '...': Error: ".
  const message = raw.replace(/^Error invoking remote method '[^']*': (Error: )?/, '');
  const match = codeSuffix.exec(message);
  return match ? new ApiError(Number(match[1]), message.replace(codeSuffix, '')) : new ApiError(-32603, message);
}
