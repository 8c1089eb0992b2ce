// The durable-workflow peer's drain (issue #15): `count` card payments enqueued as DBOS Transact
// workflows while no DBOS process runs (the analogue of our API answering 202 while no worker
// runs), then ONE DBOS process (bench/dbos-peer.ts) drains them through the bundled processor,
// measured as bench/payments.ts measures our worker: completions over the time between the first
// and the last, and the CPU of the worker, the processor and Postgres over the drain. The DBOS
// system database is a database of its own on the same Postgres server, made and dropped here.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { DBOSClient, type DLogger } from '@dbos-inc/dbos-sdk';
import pg from 'pg';
import { analyzeBenchDatabase, type BenchDatabase } from './database.ts';
import { DBOS_APPLICATION, DBOS_QUEUE, DBOS_WORKFLOW, type DbosPayment } from './dbos-payment.ts';
import { startBenchProcess } from './processes.ts';
import { measuredDrain } from './drain.ts';

export interface DbosDrainOptions {
  database: BenchDatabase;
  /** The environment the service's processes are started with (DATABASE_URL, pool size…). */
  serverEnv: Record<string, string>;
  /** Payments to enqueue and drain: as many as our API accepted. */
  count: number;
}

export interface DbosDrainResult {
  succeeded: number;
  failed: number;
  left: number;
  seconds: number;
  paymentsPerSecond: number;
  /** CPU milliseconds per payment that succeeded. */
  cpuMsPerPayment: { worker: number; processor: number; postgres: number };
  /** How the queue was configured, for the report. */
  queue: { workerConcurrency: number; pollingMs: number };
  problems: string[];
}

/** Give up on the drain after this long, as bench/payments.ts does; what was left is reported. */
const DRAIN_LIMIT_MS = 180_000;
/** Enqueues in flight at once: enough to keep the client's pool busy. */
const ENQUEUE_PARALLELISM = 16;
/**
 * DBOS dispatches from a queue only when it polls it (minPollingIntervalMs, 1 s by default), not
 * when a workflow finishes: a slot freed just after a poll waits for the next one. At the default
 * one process would drain at most `workerConcurrency` payments a second, so the peer is tuned for
 * throughput: every 10 ms costs a freed slot 5 ms on average, a fraction of a payment's own time,
 * for one small dequeue transaction per poll (BENCH_DBOS_POLLING_MS overrides it).
 */
const DEFAULT_POLLING_MS = 10;

const execFileAsync = promisify(execFile);

/** The client's notes ("Registered new queue") would land in the bench's output; its errors still throw. */
const quiet: DLogger = { info: () => undefined, debug: () => undefined, warn: () => undefined, error: () => undefined };

function databaseUrl(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function enqueuePayments(systemDatabaseUrl: string, database: BenchDatabase, count: number, queue: DbosDrainResult['queue']): Promise<string[]> {
  const client = await DBOSClient.create({ systemDatabaseUrl, applicationName: DBOS_APPLICATION, logger: quiet });
  try {
    await client.registerQueue(DBOS_QUEUE, { workerConcurrency: queue.workerConcurrency, minPollingIntervalMs: queue.pollingMs });
    const ids = Array.from({ length: count }, () => randomUUID());
    let next = 0;
    const enqueuer = async (): Promise<void> => {
      while (next < ids.length) {
        const workflowID = ids[next++] as string;
        const account = database.accounts[Math.floor(Math.random() * database.accounts.length)] as string;
        const payment: DbosPayment = { account, amount: 1, currency: 'EUR', source: 'tok_ok' };
        await client.enqueue<(input: DbosPayment) => Promise<unknown>>({ queueName: DBOS_QUEUE, workflowName: DBOS_WORKFLOW, workflowID }, payment);
      }
    };
    await Promise.all(Array.from({ length: ENQUEUE_PARALLELISM }, enqueuer));
    return ids;
  } finally {
    await client.destroy();
  }
}

export async function runDbosDrain(options: DbosDrainOptions): Promise<DbosDrainResult> {
  const { database, serverEnv, count } = options;
  const problems: string[] = [];
  const queue = {
    workerConcurrency: Number(serverEnv['WORKER_CONCURRENCY'] ?? 16), // our worker's default, WORKER_CONCURRENCY
    pollingMs: Number(process.env['BENCH_DBOS_POLLING_MS'] ?? DEFAULT_POLLING_MS),
  };
  const systemName = `${new URL(database.url).pathname.slice(1)}_dbos`;
  const systemDatabaseUrl = databaseUrl(database.url, systemName);
  await withClient(database.url, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${systemName} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${systemName}`);
  });
  try {
    await execFileAsync(process.execPath, ['dist/bench/dbos-peer.js', 'migrate'], { env: { ...process.env, DBOS_SYSTEM_DATABASE_URL: systemDatabaseUrl } });
    const ids = await enqueuePayments(systemDatabaseUrl, database, count, queue);
    await analyzeBenchDatabase(systemDatabaseUrl);
    await analyzeBenchDatabase(database.url);
    return await withClient(systemDatabaseUrl, async (system) => {
      const unfinished = async (): Promise<number> =>
        (await system.query<{ n: number }>(`SELECT count(*)::int AS n FROM dbos.workflow_status WHERE name = $1 AND status IN ('ENQUEUED', 'PENDING', 'DELAYED')`, [DBOS_WORKFLOW])).rows[0]?.n ?? 0;
      const processor = await startBenchProcess('processor', 'dist/src/main.js', ['processor'], serverEnv, { portVariable: 'PROCESSOR_PORT' });
      const worker = await startBenchProcess(
        'dbos',
        'dist/bench/dbos-peer.js',
        [],
        { ...serverEnv, PROCESSOR_URL: processor.url, DBOS_SYSTEM_DATABASE_URL: systemDatabaseUrl, BENCH_TENANT_ID: database.tenantId },
        { listens: false, nodeArgs: process.env['BENCH_WORKER_NODE_ARGS']?.split(' ') ?? [] },
      );
      const { left, cpu, processorCpu } = await measuredDrain(worker, processor, count, unfinished, DRAIN_LIMIT_MS);
      // Completion times are the workflows' own (updated_at, epoch milliseconds, set when DBOS records the outcome).
      const { rows } = await system.query<{ succeeded: number; failed: number; seconds: number }>(`
        SELECT count(*) FILTER (WHERE status = 'SUCCESS')::int AS succeeded,
               count(*) FILTER (WHERE status NOT IN ('SUCCESS', 'ENQUEUED', 'PENDING', 'DELAYED'))::int AS failed,
               coalesce((max(updated_at) - min(updated_at)) / 1000.0, 0)::float8 AS seconds
          FROM dbos.workflow_status WHERE name = $1 AND status NOT IN ('ENQUEUED', 'PENDING', 'DELAYED')`, [DBOS_WORKFLOW]);
      const summary = rows[0] ?? { succeeded: 0, failed: 0, seconds: 0 };
      // The ledger must show one credit per payment that succeeded: the peer is measured doing the whole job.
      const credited = await withClient(database.url, async (client) =>
        (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM entries WHERE tenant_id = $1 AND context_id = any($2::uuid[])', [database.tenantId, ids])).rows[0]?.n ?? 0);
      if (left > 0) problems.push(`DBOS payments: ${left} of ${count} unfinished after ${DRAIN_LIMIT_MS / 1000} s`);
      if (summary.failed > 0) problems.push(`DBOS payments: ${summary.failed} failed with faults off`);
      if (credited !== summary.succeeded) problems.push(`DBOS payments: ${summary.succeeded} succeeded but ${credited} credits are in the ledger`);
      const perPayment = (seconds: number): number => (summary.succeeded > 0 ? (seconds * 1000) / summary.succeeded : 0);
      return {
        ...summary,
        left,
        paymentsPerSecond: summary.seconds > 0 ? summary.succeeded / summary.seconds : 0,
        cpuMsPerPayment: { worker: perPayment(cpu.server), processor: perPayment(processorCpu), postgres: perPayment(cpu.postgres) },
        queue,
        problems,
      };
    });
  } finally {
    await withClient(database.url, (admin) => admin.query(`DROP DATABASE IF EXISTS ${systemName} WITH (FORCE)`));
  }
}
