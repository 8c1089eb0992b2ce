// Wakes idle workers when a job of theirs becomes due (db/migrations/005: `contexts_due`,
// payload the action type), so an idle worker needs no fast polling. One connection LISTENs per
// process; lost, it is reconnected with backoff, and every subscriber is woken once (a
// notification may have been lost with it: the worker then simply claims).
import pg from 'pg';
import type { Logger } from 'pino';
import { checkConnection } from '../db/connection-check.ts';

export const JOBS_DUE_CHANNEL = 'contexts_due';

export class JobNotifier {
  private client: pg.Client | undefined;
  private readonly subscribers = new Set<(type: string) => void>();
  private closed = false;
  private retryMs = 250;
  private reconnect: NodeJS.Timeout | undefined;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly logger?: Logger,
  ) {}

  static forPool(pool: pg.Pool, logger?: Logger): JobNotifier {
    return new JobNotifier(pool.options, logger);
  }

  /** Calls `wake` with the action type of each job that becomes due; returns the unsubscribe. */
  subscribe(wake: (type: string) => void): () => void {
    this.subscribers.add(wake);
    if (!this.client && !this.reconnect) void this.connect();
    return () => this.subscribers.delete(wake);
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnect);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private wakeAll(type: string): void {
    for (const wake of this.subscribers) wake(type);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.clientConfig);
    client.on('notification', (message) => {
      if (message.channel === JOBS_DUE_CHANNEL) this.wakeAll(message.payload ?? '');
    });
    client.on('error', (error) => {
      this.logger?.warn({ err: error }, 'job notifier lost its connection');
      if (this.client === client) this.client = undefined;
      this.wakeAll('');
      this.scheduleReconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${JOBS_DUE_CHANNEL}`);
      if (this.closed) {
        await client.end();
        return;
      }
      this.client = client;
      this.retryMs = 250;
      // A silent connection would never wake a worker: checked, and dropped (→ 'error' above) if it does not answer.
      checkConnection(client, this.clientConfig.query_timeout, this.logger, 'job notifier');
    } catch (error) {
      this.logger?.warn({ err: error }, 'job notifier could not listen');
      await client.end().catch(() => undefined);
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnect) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      void this.connect();
    }, this.retryMs);
    this.reconnect.unref();
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
  }
}
