// The worker: claims due jobs of the asynchronous action types its registry knows — and only
// those, so two services on one database, or an old worker during a deploy, never take each
// other's jobs — and runs up to `concurrency` of them at once. One loop claims, as many jobs as
// there are free slots in one statement (so an idle worker sends one claim per poll, and a busy
// one one per batch, not one per job); each claimed job runs in its own slot.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActionRegistry } from '../actions/registry.ts';
import type { TerminalStateHook } from '../contexts/state-writer.ts';
import type { Database } from '../db/schema.ts';
import { claimDueJobs, DEFAULT_LEASE_SECONDS, MAX_CLAIM_BATCH, releaseJob, type ClaimedJob } from './jobs.ts';
import { runJob, type JobResult, type RunnerDeps } from './runner.ts';
import { retryDelaySeconds } from './backoff.ts';
import type { JobNotifier } from './job-notifier.ts';

export const DEFAULT_MAX_ATTEMPTS = 8;

export interface WorkerOptions {
  db: Kysely<Database>;
  /** The actions whose asynchronous types this worker claims and runs. */
  actions: ActionRegistry;
  logger: Logger;
  workerId?: string;
  /** How long a claim holds a job (default 10 s); an external call is aborted shortly before it ends. */
  leaseSeconds?: number;
  /** Attempts with an unknown outcome before a job is parked (default 8; an action may set its own). */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt up to backoffCapMs, with jitter. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /**
   * Wait between claims that found nothing: default 200 ms, or 1 s with a `notifier` (which
   * wakes the worker at once when a job of its types becomes due; the poll is the fallback).
   */
  pollMs?: number;
  /** Wakes the idle worker when a job is due (one LISTEN connection; see JobNotifier.forPool). */
  notifier?: JobNotifier;
  /** Jobs in flight at once (default 1). */
  concurrency?: number;
  /** The host's hook in the transaction of every final state (the webhook event is queued regardless). */
  onTerminalState?: TerminalStateHook;
  /** Called when this worker claims a job whose lease another worker held (and let run out). */
  onLeaseTakeover?: (takeover: { contextId: string; previousHolder: string }) => void;
  /** The engine's mount path ('' at the root), which the final representations' links name. */
  basePath?: string;
  /** Tests: `<boundary>-<phase>` at which this process kills itself (src/phases/failpoints.ts). */
  crashAt?: string;
  /** Told of every phase run: the operations journal keeps them for the console's timeline. */
  observePhase?: RunnerDeps['observePhase'];
}

export type JobOutcome = { contextId: string; type: string; result: JobResult };

export class Worker {
  readonly id: string;
  private readonly db: Kysely<Database>;
  private readonly actions: ActionRegistry;
  private readonly logger: Logger;
  private readonly leaseSeconds: number;
  private readonly pollMs: number;
  private readonly concurrency: number;
  /** Free slots the claim loop waits for while busy: a quarter of them (at least one). */
  private readonly claimBatch: number;
  private readonly runner: RunnerDeps;
  private readonly onLeaseTakeover: WorkerOptions['onLeaseTakeover'];
  private readonly notifier: JobNotifier | undefined;

  constructor(options: WorkerOptions) {
    this.id = options.workerId ?? `worker-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.db = options.db;
    this.actions = options.actions;
    this.logger = options.logger;
    this.leaseSeconds = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.notifier = options.notifier;
    this.pollMs = options.pollMs ?? (options.notifier ? 1_000 : 200);
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.claimBatch = Math.max(1, Math.floor(this.concurrency / 4));
    this.onLeaseTakeover = options.onLeaseTakeover;
    this.runner = {
      db: options.db,
      holder: this.id,
      leaseSeconds: this.leaseSeconds,
      logger: options.logger,
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      backoffBaseMs: options.backoffBaseMs ?? 500,
      backoffCapMs: options.backoffCapMs ?? 60_000,
      ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}),
      ...(options.crashAt ? { crashAt: options.crashAt } : {}),
      ...(options.basePath ? { basePath: options.basePath } : {}),
      ...(options.observePhase ? { observePhase: options.observePhase } : {}),
    };
  }

  /** The action types this worker claims. */
  types(): string[] {
    return [...this.actions.asynchronous().keys()];
  }

  private nextType = 0;

  /**
   * Up to `slots` due jobs of one type, trying each type once, starting one further each time,
   * so that no type starves another. One statement claims them all: a worker with a backlog
   * sends one claim per batch of free slots, not one per job.
   */
  private async claimAny(slots: number): Promise<ClaimedJob[]> {
    const types = this.types();
    const limit = Math.min(slots, MAX_CLAIM_BATCH);
    for (let tried = 0; tried < types.length; tried++) {
      const type = types[(this.nextType + tried) % types.length] as string;
      const jobs = await claimDueJobs(this.db, this.id, this.leaseSeconds, type, limit);
      if (jobs.length > 0) {
        this.nextType = (this.nextType + tried + 1) % types.length;
        return jobs;
      }
    }
    return [];
  }

  private async claim(slots: number): Promise<ClaimedJob[]> {
    const jobs = await this.claimAny(slots);
    for (const job of jobs) {
      if (job.previousHolder === null || job.previousHolder === this.id) continue;
      this.logger.warn({ context: job.contextId, previousHolder: job.previousHolder, attempt: job.attempts }, 'lease taken over');
      this.onLeaseTakeover?.({ contextId: job.contextId, previousHolder: job.previousHolder });
    }
    return jobs;
  }

  private async execute(job: ClaimedJob): Promise<JobOutcome> {
    const plan = this.actions.asynchronous().get(job.type);
    try {
      if (!plan) throw new Error(`no asynchronous action "${job.type}" is registered`);
      return { contextId: job.contextId, type: job.type, result: await runJob(job, plan, this.runner) };
    } catch (error) {
      // Only the database failing gets here (phases' own errors are retries): give the job back
      // with the error visible; if even that fails, the lease runs out and the job is taken again.
      this.logger.error({ err: error, context: job.contextId }, 'job failed');
      const delay = retryDelaySeconds(job.attempts, this.runner.backoffBaseMs, this.runner.backoffCapMs);
      await releaseJob(this.db, job, this.id, { delaySeconds: delay, error: `attempt ${job.attempts}: ${(error as Error).message}` }).catch(() => undefined);
      return { contextId: job.contextId, type: job.type, result: 'retry-scheduled' };
    }
  }

  /** Claims and runs at most one job; undefined when none was due. */
  async runOnce(): Promise<JobOutcome | undefined> {
    const [job] = await this.claim(1);
    return job && this.execute(job);
  }

  /**
   * Runs until the signal aborts, then drains: no new claims, the jobs in hand are finished
   * first (graceful shutdown on SIGTERM).
   */
  async run(signal: AbortSignal, onJob?: (outcome: JobOutcome) => void): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let slotFreed: () => void = () => undefined;
    let wake: () => void = () => undefined;
    let woken = false; // a notification that came while a claim was under way is not lost
    const stop = () => wake();
    signal.addEventListener('abort', stop, { once: true });
    const types = new Set(this.types());
    const unsubscribe = this.notifier?.subscribe((type) => {
      if (type !== '' && !types.has(type)) return;
      woken = true;
      wake();
    });
    try {
      while (!signal.aborted) {
        // With most slots busy, wait for a few to free up: one claim then takes several jobs.
        if (this.concurrency - inFlight.size < this.claimBatch) {
          await new Promise<void>((resolve) => (slotFreed = resolve));
          continue;
        }
        let jobs: ClaimedJob[] = [];
        woken = false;
        try {
          jobs = await this.claim(this.concurrency - inFlight.size);
        } catch (error) {
          this.logger.warn({ err: error }, 'worker could not claim a job');
        }
        for (const job of jobs) {
          const running: Promise<void> = this.execute(job).then((outcome) => {
            inFlight.delete(running);
            onJob?.(outcome);
            slotFreed();
          });
          inFlight.add(running);
        }
        if (jobs.length > 0) continue;
        // Nothing due: one timer, woken early by a due job or the abort (no listener per wait).
        if (woken) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      signal.removeEventListener('abort', stop);
      unsubscribe?.();
      await Promise.all(inFlight);
    }
  }
}

/** An AbortSignal that aborts on the first SIGTERM or SIGINT: `worker.run(untilSignal())` drains on shutdown. */
export function untilSignal(signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): AbortSignal {
  const controller = new AbortController();
  const abort = () => controller.abort();
  for (const name of signals) process.once(name, abort);
  return controller.signal;
}
