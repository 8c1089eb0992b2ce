// Wakes long-polls (GET with Prefer: wait) when a context changes. One dedicated connection per
// process LISTENs on the channel the contexts trigger NOTIFYs (db/migrations/002); waiters are
// kept in memory by tenant and id. No polling: a waiter sleeps until a commit names its context.
import pg from 'pg';
import type { Logger } from 'pino';
import { checkConnection } from '../db/connection-check.ts';

export const CONTEXT_CHANGED_CHANNEL = 'context_changed';

export class ContextChangeListener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly waiters = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly logger?: Logger,
  ) {}

  static forPool(pool: pg.Pool, logger?: Logger): ContextChangeListener {
    return new ContextChangeListener(pool.options, logger);
  }

  /**
   * Resolves when the context changes or the time is up. Subscribe before re-reading the row
   * (see ContextService.read), so a change between the read and the subscription is not missed.
   */
  async subscribe(tenantId: string, contextId: string): Promise<{ changed: Promise<void>; cancel: () => void }> {
    await this.connection();
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
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private wakeAll(): void {
    for (const set of this.waiters.values()) for (const wake of set) wake();
  }

  private async connection(): Promise<pg.Client> {
    if (this.closed) throw new Error('listener closed');
    if (this.client) return this.client;
    this.connecting ??= (async () => {
      const client = new pg.Client(this.clientConfig);
      client.on('notification', (message) => {
        if (message.channel !== CONTEXT_CHANGED_CHANNEL || !message.payload) return;
        for (const wake of this.waiters.get(message.payload) ?? []) wake();
      });
      client.on('error', (error) => {
        // A lost connection may have lost notifications: wake everyone to re-read, reconnect lazily.
        this.logger?.warn({ err: error }, 'context change listener lost its connection');
        if (this.client === client) this.client = undefined;
        this.wakeAll();
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${CONTEXT_CHANGED_CHANNEL}`);
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
      // A silent connection would never wake anyone: checked, and dropped (→ 'error' above) if it does not answer.
      checkConnection(client, this.clientConfig.query_timeout, this.logger, 'context change listener');
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
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
