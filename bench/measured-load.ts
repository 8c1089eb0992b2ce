import { runLoad, type LoadOptions, type Measurement } from './load.ts';
import { measureCpu, type BenchProcess } from './processes.ts';

/** Load on `server`, with the CPU that the server, Postgres and the load generator spent per operation. */
export async function measuredLoad(server: BenchProcess, load: Omit<LoadOptions, 'url'>): Promise<Measurement> {
  const { result, cpu } = await measureCpu(server.pid, () => runLoad({ url: server.url, ...load }));
  const operations = result.throughput * load.durationSeconds;
  const perOp = (seconds: number): number => (operations > 0 ? (seconds * 1000) / operations : 0);
  return { ...result, cpuMsPerOp: { server: perOp(cpu.server), postgres: perOp(cpu.postgres), loadGenerator: perOp(cpu.loadGenerator) } };
}
