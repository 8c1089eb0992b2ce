// Card payments end to end: the API accepts them (202) while no worker runs, then one worker
// process drains the backlog through the bundled processor (faults off). The drain rate is
// measured from the database: payments completed over the time between the first completion
// and the last, so process start-up is not counted. Then the same count of payments is drained
// by the durable-workflow peer, a DBOS Transact workflow (bench/dbos-drain.ts), and the two are
// reported side by side with issue #15's target.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { analyzeBenchDatabase } from './database.ts';
import { runDbosDrain, type DbosDrainResult } from './dbos-drain.ts';
import { measuredLoad, type BenchRun } from './measured-load.ts';
import { startBenchProcess } from './processes.ts';
import { table } from './report.ts';
import { measuredDrain } from './drain.ts';

export type PaymentOptions = BenchRun;

/** One drain's figures: payments/s, and CPU milliseconds per payment by process. */
export interface DrainFigures {
  paymentsPerSecond: number;
  cpuMsPerPayment: { worker: number; processor: number; postgres: number };
}

/** Issue #15: one of our workers drains at least twice as many payments a second as one DBOS process. */
const DBOS_TARGET = 2;

function comparison(ours: DrainFigures, dbos: DbosDrainResult): string {
  const ms = (value: number): string => value.toFixed(2);
  const row = (label: string, figures: DrainFigures): string =>
    `| ${label} | ${figures.paymentsPerSecond.toFixed(0)} | ${ms(figures.cpuMsPerPayment.worker)} | ${ms(figures.cpuMsPerPayment.processor)} | ${ms(figures.cpuMsPerPayment.postgres)} |`;
  const ratio = dbos.paymentsPerSecond > 0 ? ours.paymentsPerSecond / dbos.paymentsPerSecond : Number.NaN;
  return [
    '### Payments drained: ours and a DBOS Transact workflow',
    `The same count of card payments, queued while no worker ran, drained by one process through the bundled processor. DBOS (bench/dbos-peer.ts, @dbos-inc/dbos-sdk): one workflow per payment, a charge step keyed by the workflow id and a credit step; its queue runs ${dbos.queue.workerConcurrency} workflows at once and is polled every ${dbos.queue.pollingMs} ms. It drained ${dbos.succeeded} (${dbos.failed} failed, ${dbos.left} left) in ${dbos.seconds.toFixed(1)} s.`,
    '',
    '| one worker process | payments/s | CPU ms per payment: worker | processor | Postgres |',
    '|---|---:|---:|---:|---:|',
    row('ours', ours),
    row('DBOS Transact workflow', dbos),
    '',
    `Target ours ≥ ${DBOS_TARGET} × DBOS: ${Number.isFinite(ratio) ? ratio.toFixed(2) : '–'} — ${ratio >= DBOS_TARGET ? 'met' : 'missed'}.`,
  ].join('\n');
}

/** Give up on the drain after this long; what was left is reported. */
const DRAIN_LIMIT_MS = 180_000;

export async function runPaymentDrain(options: PaymentOptions): Promise<{ report: string; problems: string[]; ours: DrainFigures; dbos: DbosDrainResult }> {
  const { api, database, connections, durationSeconds } = options;
  const problems: string[] = [];
  const headers = { authorization: `Bearer ${database.apiKey}`, 'content-type': 'application/json', 'if-none-match': '*' };
  const accepted = await measuredLoad(api, {
    connections,
    durationSeconds,
    next: () => {
      const account = database.accounts[Math.floor(Math.random() * database.accounts.length)] as string;
      return { method: 'PUT', path: `/contexts/${randomUUID()}`, headers, body: JSON.stringify({ action: { type: 'payment', account, amount: 1, source: 'tok_ok' } }) };
    },
  });
  if (Object.keys(accepted.statuses).some((code) => code !== '202')) problems.push(`payments: accepted with ${JSON.stringify(accepted.statuses)}`);
  await analyzeBenchDatabase(database.url);

  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const count = async (): Promise<number> =>
    (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM contexts WHERE state = 'processing'`)).rows[0]?.n ?? 0;
  const backlog = await count();
  const processor = await startBenchProcess('processor', 'dist/src/main.js', ['processor'], options.serverEnv, { portVariable: 'PROCESSOR_PORT' });
  const worker = await startBenchProcess('worker', 'dist/src/main.js', ['worker'], { ...options.serverEnv, PROCESSOR_URL: processor.url }, {
    listens: false,
    nodeArgs: process.env['BENCH_WORKER_NODE_ARGS']?.split(' ') ?? [],
  });
  const { left, cpu, processorCpu } = await measuredDrain(worker, processor, backlog, count, DRAIN_LIMIT_MS);
  const { rows } = await client.query<{ succeeded: number; failed: number; seconds: number }>(`
    SELECT count(*) FILTER (WHERE state = 'succeeded')::int AS succeeded,
           count(*) FILTER (WHERE state = 'failed')::int AS failed,
           extract(epoch FROM max(updated_at) - min(updated_at))::float8 AS seconds
      FROM contexts WHERE action->>'type' = 'payment' AND state IN ('succeeded', 'failed')`);
  await client.end();
  const summary = rows[0] ?? { succeeded: 0, failed: 0, seconds: 0 };
  const drainRate = summary.seconds > 0 ? summary.succeeded / summary.seconds : 0;
  if (left > 0) problems.push(`payments: ${left} of ${backlog} still processing after ${DRAIN_LIMIT_MS / 1000} s`);
  if (summary.failed > 0) problems.push(`payments: ${summary.failed} failed with faults off`);
  const msPerPayment = (seconds: number): number => (summary.succeeded > 0 ? (seconds * 1000) / summary.succeeded : 0);
  const perPayment = (seconds: number): string => (summary.succeeded > 0 ? msPerPayment(seconds).toFixed(2) : '–');
  const ours: DrainFigures = {
    paymentsPerSecond: drainRate,
    cpuMsPerPayment: { worker: msPerPayment(cpu.server), processor: msPerPayment(processorCpu), postgres: msPerPayment(cpu.postgres) },
  };
  const dbos = await runDbosDrain({ database, serverEnv: options.serverEnv, count: backlog });
  problems.push(...dbos.problems);
  const report = [
    table('Payments accepted', 'PUT /contexts/{new id}, If-None-Match: *, a card payment (tok_ok): answered 202 while no worker runs', [
      { label: 'ours', measurement: accepted },
    ]),
    '',
    `One worker process (WORKER_CONCURRENCY=${options.serverEnv['WORKER_CONCURRENCY'] ?? 'default'}) drained ${summary.succeeded} payments (${summary.failed} failed, ${left} left) through the bundled processor in ${summary.seconds.toFixed(1)} s: **${drainRate.toFixed(0)} payments/s** end to end (claim, charge, confirm, credit, webhook outbox).`,
    `CPU per payment: worker ${perPayment(cpu.server)} ms, processor ${perPayment(processorCpu)} ms, Postgres ${perPayment(cpu.postgres)} ms.`,
    '',
    comparison(ours, dbos),
  ].join('\n');
  return { report, problems, ours, dbos };
}
