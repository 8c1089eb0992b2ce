// Wakes idle workers when a job of theirs becomes due (db/migrations/005: `contexts_due`,
// payload the action type), so an idle worker needs no fast polling. One connection LISTENs per
// process (at DATABASE_LISTEN_URL when set: past a pooler, which does not carry notifications);
// lost, it is reconnected with backoff (src/db/listen-connection.ts), and every subscriber is
// woken once (a notification may have been lost with it: the worker then simply claims).
import type pg from 'pg';
import type { Logger } from 'pino';
import { ListenConnection, listenConfig, notifyThrough, type ListenHealth } from '../db/listen-connection.ts';

export const JOBS_DUE_CHANNEL = 'contexts_due';

export class JobNotifier {
  private readonly connection: ListenConnection;
  private readonly subscribers = new Set<(type: string) => void>();

  constructor(clientConfig: pg.ClientConfig, logger?: Logger, probe?: (channel: string, payload: string) => Promise<unknown>) {
    this.connection = new ListenConnection({
      channel: JOBS_DUE_CHANNEL,
      client: clientConfig,
      onNotification: (type) => this.wakeAll(type),
      onGap: () => this.wakeAll(''),
      ...(probe ? { probe } : {}),
      ...(logger ? { logger } : {}),
    });
  }

  /** Listens with the pool's settings, at `listenUrl` if given (DATABASE_LISTEN_URL); probes NOTIFY through the pool. */
  static forPool(pool: pg.Pool, logger?: Logger, listenUrl?: string): JobNotifier {
    return new JobNotifier(listenConfig(pool, listenUrl), logger, notifyThrough(pool));
  }

  /** Calls `wake` with the action type of each job that becomes due ('' after a gap: any); returns the unsubscribe. */
  subscribe(wake: (type: string) => void): () => void {
    this.subscribers.add(wake);
    void this.connection.start();
    return () => this.subscribers.delete(wake);
  }

  get listening(): boolean {
    return this.connection.state === 'listening';
  }

  get health(): ListenHealth {
    return this.connection.health;
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  private wakeAll(type: string): void {
    for (const wake of this.subscribers) wake(type);
  }
}
