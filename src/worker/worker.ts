// The worker process: claim a due job, run one attempt, repeat. Several may run at once.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { claimNextJob, DEFAULT_LEASE_SECONDS } from './jobs.ts';
import { runPaymentJob, type JobResult, type PaymentJobDeps } from './payment-job.ts';

export interface WorkerOptions extends Omit<PaymentJobDeps, 'workerId' | 'maxAttempts' | 'backoffBaseMs' | 'backoffCapMs'> {
  workerId?: string;
  leaseSeconds?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Idle wait between empty polls. */
  pollMs?: number;
  /**
   * Jobs in flight at once in this process (default 1). Each slot claims its own job with
   * SKIP LOCKED, exactly as separate worker processes would; while one waits for the processor
   * the others use the connection and the CPU.
   */
  concurrency?: number;
  /** Called when this worker claims a job whose lease another worker held (and let run out). */
  onLeaseTakeover?: (takeover: { contextId: string; previousHolder: string }) => void;
}

export const DEFAULT_MAX_ATTEMPTS = 8;

export class Worker {
  readonly id: string;
  private readonly deps: PaymentJobDeps;
  private readonly leaseSeconds: number;
  private readonly pollMs: number;
  private readonly concurrency: number;
  private readonly onLeaseTakeover: WorkerOptions['onLeaseTakeover'];

  constructor(options: WorkerOptions) {
    this.id = options.workerId ?? `worker-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.leaseSeconds = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.pollMs = options.pollMs ?? 200;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.onLeaseTakeover = options.onLeaseTakeover;
    this.deps = {
      db: options.db,
      processor: options.processor,
      onTerminalState: options.onTerminalState,
      logger: options.logger,
      workerId: this.id,
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      backoffBaseMs: options.backoffBaseMs ?? 500,
      backoffCapMs: options.backoffCapMs ?? 60_000,
    };
  }

  /** Claims and runs at most one job; undefined when none was due. */
  async runOnce(): Promise<{ contextId: string; result: JobResult } | undefined> {
    const job = await claimNextJob(this.deps.db, this.id, this.leaseSeconds);
    if (!job) return undefined;
    if (job.previousHolder !== null && job.previousHolder !== this.id) {
      this.deps.logger.warn({ context: job.contextId, previousHolder: job.previousHolder, attempt: job.attempts }, 'lease taken over');
      this.onLeaseTakeover?.({ contextId: job.contextId, previousHolder: job.previousHolder });
    }
    try {
      return { contextId: job.contextId, result: await runPaymentJob(job, this.deps) };
    } catch (error) {
      // The lease runs out and the job is taken again; nothing half-done was committed.
      this.deps.logger.error({ err: error, context: job.contextId }, 'payment job failed');
      return { contextId: job.contextId, result: 'retry-scheduled' };
    }
  }

  /** Runs until the signal aborts; the jobs in hand are finished first (graceful shutdown). */
  async run(signal: AbortSignal, onJob?: (outcome: { contextId: string; result: JobResult }) => void): Promise<void> {
    await Promise.all(Array.from({ length: this.concurrency }, () => this.runSlot(signal, onJob)));
  }

  private async runSlot(signal: AbortSignal, onJob?: (outcome: { contextId: string; result: JobResult }) => void): Promise<void> {
    while (!signal.aborted) {
      let outcome: Awaited<ReturnType<Worker['runOnce']>>;
      try {
        outcome = await this.runOnce();
      } catch (error) {
        this.deps.logger.warn({ err: error }, 'worker could not claim a job');
        outcome = undefined;
      }
      if (outcome) {
        onJob?.(outcome);
        continue;
      }
      await sleep(this.pollMs, undefined, { signal }).catch(() => undefined);
    }
  }
}
