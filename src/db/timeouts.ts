// Bounds on every wait for the database. Without them a connection that goes silent — the
// database host vanishes, a firewall drops the flow, a relay stops forwarding without closing —
// holds its request, its pool slot and any row lock it took until TCP gives up, which is
// minutes (Linux retransmits an unacknowledged segment for about 15 minutes). With them a silent
// connection costs one request a 503 within `queryMs`, and its slot is freed at once.

export interface DatabaseTimeouts {
  /** Wait for a new connection, and for a free slot of the pool (pg-pool's connectionTimeoutMillis). */
  readonly connectMs: number;
  /**
   * Client side (pg's query_timeout): the longest wait for the answer to one statement. Past it
   * the connection is taken as dead: the statement fails and the connection is destroyed, never
   * handed out again. 0: no bound.
   */
  readonly queryMs: number;
  /** Server side (statement_timeout): Postgres cancels a statement that runs longer; the connection stays usable. 0: off. */
  readonly statementMs: number;
  /**
   * Server side (idle_in_transaction_session_timeout): Postgres ends a session that sits this long
   * inside a transaction. A client that vanished mid-transaction would otherwise keep its row
   * locks — and every retry of its request waiting on them — until the server notices. 0: off.
   */
  readonly idleInTransactionMs: number;
  /** TCP keepalive: the first probe after this long without traffic (the OS sets the interval and count). 0: no keepalive. */
  readonly keepAliveDelayMs: number;
}

/**
 * Statements of this service take milliseconds; a bound of seconds only ever cuts one that waits.
 * The query bound exceeds the statement bound, so a statement that is slow on a live server is
 * cancelled by the server (the connection survives) before the client gives the connection up.
 */
export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = {
  connectMs: 5_000,
  queryMs: 6_000,
  statementMs: 5_000,
  idleInTransactionMs: 10_000,
  keepAliveDelayMs: 10_000,
};

/** pg's error for a statement whose answer did not come within query_timeout. */
export function isQueryTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

/** A statement that got no answer within the client-side bound; its connection is destroyed. */
export class DatabaseTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';

  constructor(boundMs: number | undefined, options?: ErrorOptions) {
    super(`The database did not answer within ${boundMs ?? '?'} ms; the connection is dropped`, options);
    this.name = 'DatabaseTimeoutError';
  }
}
