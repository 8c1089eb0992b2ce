// Draining a backlog with one worker process and the processor simulator, as both payment drains
// do (ours, DBOS): wait until nothing is left (or the limit passes), measuring the CPU of the
// worker, of Postgres and, separately, of the processor over the drain; then stop both.
import { setTimeout as sleep } from 'node:timers/promises';
import { measureCpu, type BenchProcess } from './processes.ts';

export interface MeasuredDrain {
  /** What was still unfinished when the drain ended. */
  left: number;
  cpu: { server: number; postgres: number; loadGenerator: number };
  processorCpu: number;
}

export async function measuredDrain(
  worker: BenchProcess,
  processor: BenchProcess,
  backlog: number,
  unfinished: () => Promise<number>,
  limitMs: number,
): Promise<MeasuredDrain> {
  const started = Date.now();
  let left = backlog;
  try {
    const drain = async (): Promise<void> => {
      while (left > 0 && Date.now() - started < limitMs) {
        await sleep(200);
        left = await unfinished();
      }
    };
    const measured = await measureCpu(processor.pid, () => measureCpu(worker.pid, drain));
    return { left, cpu: measured.result.cpu, processorCpu: measured.cpu.server };
  } finally {
    await worker.stop();
    await processor.stop();
  }
}
