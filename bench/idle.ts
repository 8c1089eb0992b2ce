// An idle worker: the production worker process (`main.js worker`, with its webhook deliverer and
// key sweeper) on the bench database with nothing due. What it costs is counted by Postgres
// itself — the transactions committed or rolled back in that database — over windows of the
// same length with the worker and before and after it (the API and the baselines are idle the whole time; the sampling
// query is in both windows), so the difference is the worker's.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startBenchProcess } from './processes.ts';
import type { BenchRun } from './measured-load.ts';

/** Issue #15: a worker with nothing to do sends at most this many transactions a second. */
export const IDLE_TARGET_PER_SECOND = 5;

async function transactionsIn(client: pg.Client, seconds: number): Promise<number> {
  const count = async (): Promise<number> => {
    // Statistics reach pg_stat_database when a backend goes idle, at most once a second.
    const { rows } = await client.query<{ n: string }>('SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0]?.n ?? 0);
  };
  const before = await count();
  await sleep(seconds * 1000);
  await sleep(1_100); // the last second's statistics
  return (await count()) - before;
}

export async function measureIdleWorker(options: BenchRun & { seconds?: number }): Promise<{ report: string; perSecond: number }> {
  const seconds = options.seconds ?? Math.max(3, options.durationSeconds);
  const client = new pg.Client({ connectionString: options.database.url });
  await client.connect();
  try {
    await sleep(2_000); // what the previous workload's connections still report
    const before = await transactionsIn(client, seconds);
    const worker = await startBenchProcess('worker', 'dist/src/main.js', ['worker'], options.serverEnv, { listens: false });
    let withWorker: number;
    try {
      await sleep(2_000); // started: migrations checked, listening, its first empty claims done
      withWorker = await transactionsIn(client, seconds);
    } finally {
      await worker.stop();
    }
    await sleep(1_000);
    const after = await transactionsIn(client, seconds);
    // The quieter window is the baseline: the other one may still hold a neighbour's late statistics.
    const without = Math.min(before, after);
    const perSecond = Math.max(0, withWorker - without) / seconds;
    const verdict = perSecond <= IDLE_TARGET_PER_SECOND ? 'met' : 'missed';
    const report = [
      '### Idle worker',
      `One worker process with nothing due, its webhook deliverer and key sweeper: ${withWorker - without} transactions in ${seconds} s, counted by Postgres (${withWorker} with it, ${without} without).`,
      '',
      `Target ≤ ${IDLE_TARGET_PER_SECOND} transactions/s: ${perSecond.toFixed(1)} — ${verdict}.`,
    ].join('\n');
    return { report, perSecond };
  } finally {
    await client.end();
  }
}
