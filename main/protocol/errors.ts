/**
 * Typed error codes of the wire contract. JSON-RPC reserves -32768..-32000;
 * the standard ones keep their numbers, ours live in -32099..-32000 ("server
 * error" range) so any JSON-RPC client can still tell them apart.
 */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  Unauthenticated: -32001,
  Forbidden: -32002,
  RateLimited: -32003,
  TooManyPending: -32004,
  TooManySubscriptions: -32005,
  NotFound: -32006,
  Conflict: -32007,
  Unavailable: -32008,
  Timeout: -32009,
  VersionMismatch: -32010,
  TooManyConnections: -32011,
  /** The connection has too many unsent bytes: the client is not reading its replies. */
  Backlogged: -32012,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

const nameByValue = new Map<number, ErrorCodeName>(
  Object.entries(ErrorCode).map(([name, value]) => [value, name as ErrorCodeName]),
);

export function errorCodeName(code: number): ErrorCodeName | 'Unknown' {
  return nameByValue.get(code) ?? 'Unknown';
}

/** An error that crosses the wire: handlers throw it, clients receive it. */
export class RpcError extends Error {
  readonly code: ErrorCodeValue;
  readonly data: unknown;

  constructor(code: ErrorCodeValue, message: string, data?: unknown) {
    super(message);
    this.name = `RpcError(${errorCodeName(code)})`;
    this.code = code;
    this.data = data;
  }

  toJSON(): { code: number; message: string; data?: unknown } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

export function isRpcError(e: unknown): e is RpcError {
  return e instanceof RpcError;
}

/**
 * What a daemon's core throws when a request cannot be served as asked. The
 * cores know nothing of the wire; the dispatcher (toRpcError) maps each kind to
 * its code, so both daemons follow one convention and no handler maps by hand.
 */
export class DomainError extends Error {
  readonly code: ErrorCodeValue;

  constructor(code: ErrorCodeValue, message: string) {
    super(message);
    this.code = code;
  }
}

/** The thing named does not exist (no reservation "r-9", no VI "vi-r-3"). */
export class NotFound extends DomainError {
  override name = 'NotFound';
  constructor(message: string) {
    super(ErrorCode.NotFound, message);
  }
}

/** The request is well formed but the state forbids it now (a cancelled reservation cannot be approved). */
export class Conflict extends DomainError {
  override name = 'Conflict';
  constructor(message: string) {
    super(ErrorCode.Conflict, message);
  }
}

/** A value is wrong in a way the schema cannot see (a cap above what was reserved). */
export class Invalid extends DomainError {
  override name = 'Invalid';
  constructor(message: string) {
    super(ErrorCode.InvalidParams, message);
  }
}

/** Something the request depends on is away (a controller not connected). */
export class Unavailable extends DomainError {
  override name = 'Unavailable';
  constructor(message: string) {
    super(ErrorCode.Unavailable, message);
  }
}
