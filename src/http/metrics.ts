// Prometheus metrics (GET /metrics, text format 0.0.4). Every app has a registry of its own, so
// two apps in one process (tests, a service that embeds this one) never share or collide.
//
// Counted as requests pass: requests and their latency by method, route template and status;
// replays; the protocol's refusals (412, 428, 409). Counted by the worker and the webhook
// deliverer when they run in the same process (role `all`): lease takeovers and failed webhook
// attempts. Read on scrape, in one query: contexts by state, the jobs waiting for a worker and the
// age of the oldest, webhook deliveries that are failing; and the pool's connections. Read from
// the process: whether statements are still named (a pooler in transaction mode makes the process
// give them up) and the state of each LISTEN connection (long-polls, idle workers).
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { observeRequests } from './observe.ts';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { sendsNamedStatements } from '../db/database.ts';
import type { ListenHealth } from '../db/listen-connection.ts';
import type { Database } from '../db/schema.ts';
import type { AuthState } from './auth.ts';
import type { RouteResolver } from './route-template.ts';

export const METRICS_PATH = '/metrics';

/** The states a context row can be in; each is reported, with 0 when there is none. */
const CONTEXT_STATES = ['open', 'processing', 'succeeded', 'failed', 'cancelled'] as const;

/** Statuses of the idempotence protocol worth counting on their own. */
const PRECONDITION_OUTCOMES: Record<number, string> = {
  412: 'precondition_failed',
  428: 'precondition_required',
  409: 'already_executed',
};

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/** Latency buckets in seconds; long-polls (Prefer: wait, at most 30 s) land in the last ones. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface MetricsSources {
  pool: pg.Pool;
  db: Kysely<Database>;
  /** Warned when the scrape cannot read the database. */
  logger?: Logger;
  /** Also export Node's process metrics (CPU, memory, event loop lag, GC); default true. */
  processMetrics?: boolean;
}

interface DatabaseSnapshot {
  states: Record<string, number>;
  due: number;
  lag: number;
  failing: number;
}

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly replays: Counter<'method' | 'route' | 'status'>;
  readonly preconditionOutcomes: Counter<'outcome'>;
  /** Incremented by a worker that claims a job whose lease another worker held. */
  readonly leaseTakeovers: Counter;
  /** Incremented by the webhook deliverer for every failed attempt. */
  readonly webhookDeliveryFailures: Counter;
  private readonly sources: MetricsSources;
  private readonly listeners = new Map<string, () => ListenHealth>();
  private reading: Promise<DatabaseSnapshot | undefined> | undefined;

  constructor(sources: MetricsSources) {
    this.sources = sources;
    const registers = [this.registry];
    const requestLabels = ['method', 'route', 'status'] as const;
    this.httpRequests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route template and status.', labelNames: requestLabels, registers });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request (until the body starts), by method, route template and status.',
      labelNames: requestLabels,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.replays = new Counter({
      name: 'idempotence_replays_total',
      help: 'Responses that replayed a recorded outcome (Idempotent-Replayed: true), by method, route template and status.',
      labelNames: requestLabels,
      registers,
    });
    this.preconditionOutcomes = new Counter({
      name: 'idempotence_precondition_outcomes_total',
      help: 'Requests refused by the protocol: precondition_failed (412), precondition_required (428), already_executed (409).',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of Object.values(PRECONDITION_OUTCOMES)) this.preconditionOutcomes.inc({ outcome }, 0);
    this.leaseTakeovers = new Counter({
      name: 'idempotence_worker_lease_takeovers_total',
      help: "Jobs a worker of this process claimed after another worker's lease ran out (that worker crashed or was too slow).",
      registers,
    });
    this.webhookDeliveryFailures = new Counter({
      name: 'idempotence_webhook_delivery_failures_total',
      help: 'Failed webhook delivery attempts by the deliverer of this process (non-2xx, timeout, network error).',
      registers,
    });

    const snapshot = (): Promise<DatabaseSnapshot | undefined> => this.snapshot();
    const gauge = (name: string, help: string, value: (read: DatabaseSnapshot) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect: async function () {
          const read = await snapshot();
          if (read) this.set(value(read));
          else this.reset();
        },
      });
    };
    new Gauge({
      name: 'idempotence_contexts',
      help: 'Contexts by stored state (an open context past expiresAt counts as open), read on scrape.',
      labelNames: ['state'],
      registers,
      collect: async function () {
        const read = await snapshot();
        this.reset();
        if (!read) return;
        for (const state of CONTEXT_STATES) this.set({ state }, read.states[state] ?? 0);
      },
    });
    gauge('idempotence_worker_due_jobs', 'Processing contexts that are due and not leased by a worker, read on scrape.', (s) => s.due);
    gauge(
      'idempotence_worker_lag_seconds',
      'Age of the oldest processing context that is due and not leased (now − run_after); 0 when none waits. Read on scrape.',
      (s) => s.lag,
    );
    gauge(
      'idempotence_webhook_deliveries_failing',
      'Undelivered webhook deliveries with at least one failed attempt (retrying or given up), read on scrape.',
      (s) => s.failing,
    );
    new Gauge({
      name: 'idempotence_database_up',
      help: 'Whether the last scrape could read the database (1) or not (0).',
      registers,
      collect: async function () {
        this.set((await snapshot()) ? 1 : 0);
      },
    });
    // Read once the scrape's own query is done, so that it does not count itself.
    const { pool } = sources;
    const poolGauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect: async function () {
          await snapshot();
          this.set(read());
        },
      });
    };
    poolGauge('idempotence_db_pool_total_clients', 'Connections the pool holds, idle or checked out.', () => pool.totalCount);
    poolGauge('idempotence_db_pool_idle_clients', 'Connections of the pool that are idle.', () => pool.idleCount);
    poolGauge('idempotence_db_pool_waiting_requests', 'Queries waiting for a connection of the pool.', () => pool.waitingCount);

    new Gauge({
      name: 'idempotence_db_named_statements',
      help: 'Whether queries are sent as named (prepared) statements (1) or unnamed (0: configured so, or given up on a pooler in transaction mode).',
      registers,
      collect() {
        this.set(sendsNamedStatements(sources.db) ? 1 : 0);
      },
    });
    const listeners = this.listeners;
    new Gauge({
      name: 'idempotence_notifications_listening',
      help: "Whether the process's LISTEN connection on a channel hears notifications (1) or not (0: connecting, lost, or deaf behind a pooler); waiters then fall back to re-reading.",
      labelNames: ['channel'],
      registers,
      collect() {
        this.reset();
        for (const [channel, health] of listeners) this.set({ channel }, health().state === 'listening' ? 1 : 0);
      },
    });
    new Counter({
      name: 'idempotence_notification_reconnects_total',
      help: 'LISTEN connections lost (or not made) and opened again, by channel.',
      labelNames: ['channel'],
      registers,
      collect() {
        this.reset();
        for (const [channel, health] of listeners) this.inc({ channel }, health().reconnects);
      },
    });

    if (sources.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Exports the health of a LISTEN connection of this process (the last one given per channel). */
  watchListener(health: () => ListenHealth): void {
    this.listeners.set(health().channel, health);
  }

  /** Counts every request: outermost, after the error middleware has set the final status. */
  middleware(route: RouteResolver): Middleware {
    return observeRequests((ctx, { status, elapsedNs }) => {
      const labels = { method: KNOWN_METHODS.has(ctx.method) ? ctx.method : 'other', route: route(ctx), status: String(status) };
      this.httpRequests.inc(labels);
      this.httpDuration.observe(labels, Number(elapsedNs) / 1e9);
      if (ctx.response.get('Idempotent-Replayed') === 'true') this.replays.inc(labels);
      const outcome = PRECONDITION_OUTCOMES[status];
      if (outcome) this.preconditionOutcomes.inc({ outcome });
    });
  }

  /** One database read per scrape, shared by every gauge that needs it; undefined when it failed. */
  private snapshot(): Promise<DatabaseSnapshot | undefined> {
    this.reading ??= this.readDatabase().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readDatabase(): Promise<DatabaseSnapshot | undefined> {
    try {
      const { rows } = await sql<DatabaseSnapshot>`
        SELECT s.states, j.due, j.lag, w.failing
          FROM (SELECT coalesce(json_object_agg(state, n), '{}'::json) AS states
                  FROM (SELECT state, count(*)::int AS n FROM contexts GROUP BY state) AS g) AS s,
               (SELECT count(*)::int AS due, coalesce(extract(epoch FROM now() - min(run_after)), 0)::float8 AS lag
                  FROM contexts
                 WHERE state = 'processing' AND run_after <= now()
                   AND (locked_until IS NULL OR locked_until < now())) AS j,
               (SELECT count(*)::int AS failing
                  FROM webhook_deliveries
                 WHERE delivered_at IS NULL AND attempts > 0) AS w`.execute(this.sources.db);
      return rows[0];
    } catch (error) {
      this.sources.logger?.warn({ err: error }, 'metrics: the database could not be read');
      return undefined;
    }
  }

  /** The exposition: content type and text. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/** GET /metrics: public, like the health probes (see PUBLIC_PATHS). */
export function metricsRoutes(metrics: ServiceMetrics): Router<Partial<AuthState>> {
  const router = new Router<Partial<AuthState>>();
  router.get(METRICS_PATH, async (ctx) => {
    const { contentType, text } = await metrics.exposition();
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Type', contentType);
    ctx.body = text;
  });
  return router;
}
