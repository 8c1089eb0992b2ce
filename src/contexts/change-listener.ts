// Wakes long-polls (GET with Prefer: wait) when a context changes. One dedicated connection per
// process LISTENs on the channel the contexts trigger NOTIFYs (db/migrations/002); waiters are
// kept in memory by tenant and id. The connection is its own, not the pool's, and may go
// elsewhere (DATABASE_LISTEN_URL: past a pooler in transaction mode, which does not carry
// notifications); lost, it is opened again with backoff (src/db/listen-connection.ts). A waiter
// does not count on it alone: it re-reads its context every recheck period too (service.ts).
import type pg from 'pg';
import type { Logger } from 'pino';
import { ListenConnection, listenConfig, notifyThrough, type ListenHealth } from '../db/listen-connection.ts';

export const CONTEXT_CHANGED_CHANNEL = 'context_changed';

export class ContextChangeListener {
  private readonly connection: ListenConnection;
  private readonly waiters = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(clientConfig: pg.ClientConfig, logger?: Logger, probe?: (channel: string, payload: string) => Promise<unknown>) {
    this.connection = new ListenConnection({
      channel: CONTEXT_CHANGED_CHANNEL,
      client: clientConfig,
      onNotification: (payload) => {
        for (const wake of this.waiters.get(payload) ?? []) wake();
      },
      // A lost connection may have lost notifications: wake everyone to re-read.
      onGap: () => this.wakeAll(),
      ...(probe ? { probe } : {}),
      ...(logger ? { logger } : {}),
    });
  }

  /** Listens with the pool's settings, at `listenUrl` if given (DATABASE_LISTEN_URL); probes NOTIFY through the pool. */
  static forPool(pool: pg.Pool, logger?: Logger, listenUrl?: string): ContextChangeListener {
    return new ContextChangeListener(listenConfig(pool, listenUrl), logger, notifyThrough(pool));
  }

  /** Opens the connection now rather than at the first long-poll (so that /readyz can tell). */
  start(): Promise<void> {
    return this.connection.start();
  }

  get health(): ListenHealth {
    return this.connection.health;
  }

  /**
   * Resolves when the context changes (or the connection had a gap). Subscribe before re-reading
   * the row (see ContextService.read), so a change between the read and the subscription is not missed.
   */
  async subscribe(tenantId: string, contextId: string): Promise<{ changed: Promise<void>; cancel: () => void }> {
    if (this.closed) throw new Error('listener closed');
    await this.connection.start(); // the first attempt only; later ones do not hold a request up
    const key = `${tenantId}:${contextId}`;
    let wake!: () => void;
    const changed = new Promise<void>((resolve) => (wake = resolve));
    const set = this.waiters.get(key) ?? new Set();
    set.add(wake);
    this.waiters.set(key, set);
    const cancel = () => {
      set.delete(wake);
      if (set.size === 0) this.waiters.delete(key);
    };
    return { changed, cancel };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
    await this.connection.close();
  }

  private wakeAll(): void {
    for (const set of this.waiters.values()) for (const wake of set) wake();
  }
}

/**
 * RFC 7240 §4.3: `Prefer: wait=N` (delta-seconds). Returns the wait this server applies, capped at
 * `max`, or undefined when the preference is absent or malformed (a preference may be ignored).
 */
export function preferredWaitSeconds(prefer: string | undefined, max: number): number | undefined {
  if (!prefer) return undefined;
  for (const part of prefer.split(',')) {
    const match = /^\s*wait\s*=\s*"?(\d{1,9})"?\s*(?:;.*)?$/i.exec(part);
    if (match?.[1] !== undefined) return Math.min(Number(match[1]), max);
  }
  return undefined;
}
