// One connection that LISTENs on one channel for as long as the process wants it (long-polls,
// idle workers). Lost, it is opened again with backoff (250 ms doubling to 10 s), and its owner
// is told there was a gap: a notification may have been lost with the connection.
//
// A LISTEN can also succeed and hear nothing: through a pooler in transaction mode the LISTEN ran
// on a server connection that went back to the pool, and no client is linked to it when the
// NOTIFY comes. So the connection probes itself: a NOTIFY of its own sent through `probe` (the
// application's pool, the way every real NOTIFY is sent) must come back within PROBE_TIMEOUT_MS,
// at start and every PROBE_INTERVAL_MS. One that does not makes the state `deaf`, not `listening`.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { checkConnection } from './connection-check.ts';
import type { Logger } from 'pino';

export type ListenState = 'idle' | 'connecting' | 'listening' | 'deaf' | 'reconnecting' | 'closed';

export interface ListenHealth {
  readonly channel: string;
  readonly state: ListenState;
  /** Connections lost (or never made) and tried again since the process started. */
  readonly reconnects: number;
}

/** Payloads of probes start so; owners never see them. */
const PROBE_PREFIX = 'idempotence-probe:';
export const PROBE_INTERVAL_MS = 30_000;
export const PROBE_TIMEOUT_MS = 2_000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;

export interface ListenConnectionOptions {
  channel: string;
  /** Where to connect: the pool's settings, or DATABASE_LISTEN_URL's. */
  client: pg.ClientConfig;
  onNotification: (payload: string) => void;
  /** The connection was lost: notifications since the last one may be lost too. */
  onGap: () => void;
  /** Sends NOTIFY `channel`, `payload` the way the application's own notifications go; without it, no probe. */
  probe?: (channel: string, payload: string) => Promise<unknown>;
  logger?: Logger;
}

/** The pool's connection settings, with `listenUrl` (when given) for where to connect. */
export function listenConfig(pool: pg.Pool, listenUrl?: string): pg.ClientConfig {
  // pg lets what a connection string says win over the options beside it.
  return listenUrl ? { ...pool.options, connectionString: listenUrl } : pool.options;
}

/** A probe that NOTIFYs through `pool`, as the application's triggers do through it. */
export function notifyThrough(pool: pg.Pool): (channel: string, payload: string) => Promise<unknown> {
  return (channel, payload) => pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
}

export class ListenConnection {
  private client: pg.Client | undefined;
  private current: ListenState = 'idle';
  private first: Promise<void> | undefined;
  private retryMs = FIRST_RETRY_MS;
  private retry: NodeJS.Timeout | undefined;
  private probing: NodeJS.Timeout | undefined;
  private pendingProbe: { payload: string; arrived: () => void } | undefined;
  private lost = 0;
  /** The last probe that was sent did not come back (warned once per such spell). */
  private heardNothing = false;

  constructor(private readonly options: ListenConnectionOptions) {}

  get health(): ListenHealth {
    return { channel: this.options.channel, state: this.current, reconnects: this.lost };
  }

  get state(): ListenState {
    return this.current;
  }

  private get closed(): boolean {
    return this.current === 'closed';
  }

  /** Starts listening unless it has; resolves once the first attempt has ended, however it ended. */
  start(): Promise<void> {
    this.first ??= this.connect();
    return this.first;
  }

  async close(): Promise<void> {
    this.current = 'closed';
    clearTimeout(this.retry);
    clearTimeout(this.probing);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.options.client);
    client.on('notification', (message) => {
      if (message.channel !== this.options.channel) return;
      const payload = message.payload ?? '';
      if (!payload.startsWith(PROBE_PREFIX)) return this.options.onNotification(payload);
      if (this.pendingProbe?.payload === payload) this.pendingProbe.arrived();
    });
    const lost = (error?: Error) => {
      if (this.client !== client) return;
      this.options.logger?.warn({ err: error, channel: this.options.channel }, 'the LISTEN connection was lost; reconnecting');
      this.client = undefined;
      clearTimeout(this.probing);
      void client.end().catch(() => undefined);
      this.options.onGap();
      this.scheduleRetry();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    this.current = this.current === 'idle' ? 'connecting' : 'reconnecting';
    try {
      await client.connect();
      await client.query(`LISTEN ${this.options.channel}`);
    } catch (error) {
      this.options.logger?.warn({ err: error, channel: this.options.channel }, 'could not LISTEN; trying again');
      await client.end().catch(() => undefined);
      this.scheduleRetry();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = FIRST_RETRY_MS;
    // A silent connection (a vanished host) would never say it is lost: a cheap statement within the
    // pool's query bound tells, and dropping it makes 'error' above reconnect (connection-check.ts).
    checkConnection(client, this.options.client.query_timeout, this.options.logger, `LISTEN ${this.options.channel}`);
    if (this.options.probe) void this.probe(client, this.options.probe); // the state stays what it is until it comes back
    else this.current = 'listening';
  }

  private scheduleRetry(): void {
    if (this.closed || this.retry) return;
    this.lost++;
    this.current = 'reconnecting';
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, this.retryMs);
    this.retry.unref();
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  /** One NOTIFY through `probe`, awaited on this connection; then the next, PROBE_INTERVAL_MS later. */
  private async probe(client: pg.Client, send: NonNullable<ListenConnectionOptions['probe']>): Promise<void> {
    const payload = `${PROBE_PREFIX}${randomUUID()}`;
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      this.pendingProbe = { payload, arrived: () => resolve(true) };
      timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
      timer.unref(); // a probe never keeps the process alive
    });
    const sent = await send(this.options.channel, payload).then(
      () => true,
      () => false,
    );
    const heard = sent && (await arrived);
    clearTimeout(timer);
    this.pendingProbe = undefined;
    if (this.client !== client) return; // lost meanwhile: the reconnect probes again
    if (heard) {
      this.current = 'listening';
      this.heardNothing = false;
    } else if (sent) {
      this.current = 'deaf';
      if (!this.heardNothing) {
        this.options.logger?.warn(
          { channel: this.options.channel },
          'LISTEN hears no NOTIFY (is a connection pooler in transaction mode in between? point DATABASE_LISTEN_URL past it); waiters fall back to re-reading',
        );
      }
      this.heardNothing = true;
    } // not sent (the pool is failing): no news about this connection; ask again soon
    this.probing = setTimeout(() => void this.probe(client, send), sent ? PROBE_INTERVAL_MS : PROBE_TIMEOUT_MS);
    this.probing.unref();
  }
}
