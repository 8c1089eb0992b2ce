import { runLoad, type LoadOptions, type Measurement } from './load.ts';
import type { BenchDatabase } from './database.ts';
import { measureCpu, type BenchProcess } from './processes.ts';

/** What every part of the bench gets: the API under test, its database, and the load to apply. */
export interface BenchRun {
  api: BenchProcess;
  database: BenchDatabase;
  connections: number;
  durationSeconds: number;
  /** The environment the service's processes are started with. */
  serverEnv: Record<string, string>;
}

/** Load on `server`, with the CPU that the server, Postgres and the load generator spent per operation. */
export async function measuredLoad(server: BenchProcess, load: Omit<LoadOptions, 'url'>): Promise<Measurement> {
  const { result, cpu } = await measureCpu(server.pid, () => runLoad({ url: server.url, ...load }));
  const operations = result.throughput * load.durationSeconds;
  const perOp = (seconds: number): number => (operations > 0 ? (seconds * 1000) / operations : 0);
  return { ...result, cpuMsPerOp: { server: perOp(cpu.server), postgres: perOp(cpu.postgres), loadGenerator: perOp(cpu.loadGenerator) } };
}

function mean(a: Measurement, b: Measurement): Measurement {
  const statuses: Record<string, number> = { ...a.statuses };
  for (const [code, count] of Object.entries(b.statuses)) statuses[code] = (statuses[code] ?? 0) + count;
  const cpu = a.cpuMsPerOp && b.cpuMsPerOp
    ? {
        server: (a.cpuMsPerOp.server + b.cpuMsPerOp.server) / 2,
        postgres: (a.cpuMsPerOp.postgres + b.cpuMsPerOp.postgres) / 2,
        loadGenerator: (a.cpuMsPerOp.loadGenerator + b.cpuMsPerOp.loadGenerator) / 2,
      }
    : undefined;
  return {
    throughput: (a.throughput + b.throughput) / 2,
    p50Ms: (a.p50Ms + b.p50Ms) / 2,
    p99Ms: (a.p99Ms + b.p99Ms) / 2,
    statuses,
    errors: a.errors + b.errors,
    ...(cpu ? { cpuMsPerOp: cpu } : {}),
  };
}

/**
 * The same load on two servers in the order A B B A, half the duration each, averaged: a machine
 * that gets slower or faster during the run (this one is shared) then favours neither.
 */
export async function comparedLoad(
  first: { server: BenchProcess; load: Omit<LoadOptions, 'url' | 'durationSeconds'> },
  second: { server: BenchProcess; load: Omit<LoadOptions, 'url' | 'durationSeconds'> },
  durationSeconds: number,
): Promise<[Measurement, Measurement]> {
  const half = Math.max(1, Math.round(durationSeconds / 2));
  const a1 = await measuredLoad(first.server, { ...first.load, durationSeconds: half });
  const b1 = await measuredLoad(second.server, { ...second.load, durationSeconds: half });
  const b2 = await measuredLoad(second.server, { ...second.load, durationSeconds: half });
  const a2 = await measuredLoad(first.server, { ...first.load, durationSeconds: half });
  return [mean(a1, a2), mean(b1, b2)];
}
