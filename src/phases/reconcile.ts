// Reconciliation, for every asynchronous action that has a reconcile hook: each processing job
// that no worker holds (parked ones, and ones waiting for their next attempt) is claimed like a
// worker would, and its pending external phase is not run but looked up by the hook. The answer
// goes through the same conditional commits a worker's would, so running this beside live
// workers can never do anything twice. Actions' audit hooks add what single jobs cannot show.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AuditFinding, PhasePlan } from '../actions/async-action.ts';
import type { ActionRegistry } from '../actions/registry.ts';
import type { TerminalStateHook } from '../contexts/state-writer.ts';
import type { Database } from '../db/schema.ts';
import { claimJobForReconciliation, DEFAULT_LEASE_SECONDS, unheldJob, unheldJobs, type ClaimedJob } from './jobs.ts';
import { phaseKey } from './keys.ts';
import { pendingPhaseIndex, runJob, type JobResult, type RunnerDeps } from './runner.ts';

export interface JobReconciliation {
  tenantId: string;
  contextId: string;
  type: string;
  /** The recovery point the job was at. */
  recoveryPoint: string;
  /**
   * finished: settled (succeeded or failed); handed-on: the pending phase had happened, the job
   * went on and is due for a worker; resumed: it had not happened, the job is due again now;
   * unknown: nothing could be told, left as it was (a person should look); lease-lost: a worker
   * took it meanwhile. A dry run says what it would do: would-advance, would-settle,
   * would-resume, would-run (the pending phase is local), unknown.
   */
  outcome: JobResult | 'would-advance' | 'would-settle' | 'would-resume' | 'would-run';
}

export interface ReconcileReport {
  jobs: JobReconciliation[];
  findings: (AuditFinding & { type: string })[];
}

export interface ReconcileOptions {
  /** false: look and report only (a dry run); nothing is written. */
  repair: boolean;
  logger: Logger;
  onTerminalState?: TerminalStateHook;
  /** The engine's mount path, which final representations' links name. */
  basePath?: string;
  /** At most this many jobs per action type in one run (default 10 000). */
  limit?: number;
  /** Only this job (the console's "reconcile" of one context). */
  only?: { tenantId: string; contextId: string; seen?: readonly string[] };
  /** Told of every phase run (the operations journal). */
  observePhase?: RunnerDeps['observePhase'];
}

async function dryRun(job: ClaimedJob, plan: PhasePlan): Promise<JobReconciliation['outcome']> {
  const phase = plan.phases[pendingPhaseIndex(plan, job.recoveryPoint)];
  if (!phase || phase.kind === 'transactional') return 'would-run';
  const scope = { tenantId: job.tenantId, contextId: job.contextId };
  const answer = await plan
    .reconcile?.({ scope, action: job.action, outputs: job.outputs, attempt: job.attempts, key: phaseKey(scope, phase.name), signal: AbortSignal.timeout(DEFAULT_LEASE_SECONDS * 1000), phase: phase.name })
    .catch(() => undefined);
  if (!answer) return 'unknown';
  return answer.kind === 'next' ? 'would-advance' : answer.kind === 'retry' ? 'would-resume' : 'would-settle';
}

export async function reconcileJobs(db: Kysely<Database>, actions: ActionRegistry, options: ReconcileOptions): Promise<ReconcileReport> {
  const holder = `reconcile-${process.pid}-${randomUUID().slice(0, 8)}`;
  const report: ReconcileReport = { jobs: [], findings: [] };
  for (const [type, plan] of actions.asynchronous()) {
    if (plan.reconcile) {
      const candidates = options.only ? await unheldJob(db, type, options.only) : await unheldJobs(db, type, options.limit ?? 10_000);
      for (const candidate of candidates) {
        const where = { tenantId: candidate.tenantId, contextId: candidate.contextId, type, recoveryPoint: candidate.recoveryPoint };
        if (!options.repair) {
          report.jobs.push({ ...where, outcome: await dryRun(candidate, plan) });
          continue;
        }
        const job = await claimJobForReconciliation(db, holder, DEFAULT_LEASE_SECONDS, candidate.tenantId, candidate.contextId, options.only?.seen);
        if (!job) {
          report.jobs.push({ ...where, outcome: 'lease-lost' });
          continue;
        }
        const outcome = await runJob(job, plan, {
          db,
          holder,
          leaseSeconds: DEFAULT_LEASE_SECONDS,
          logger: options.logger,
          maxAttempts: Number.MAX_SAFE_INTEGER,
          backoffBaseMs: 0,
          backoffCapMs: 0,
          ...(options.onTerminalState ? { onTerminalState: options.onTerminalState } : {}),
          ...(options.basePath ? { basePath: options.basePath } : {}),
          ...(options.observePhase ? { observePhase: options.observePhase } : {}),
        }, 'reconcile');
        report.jobs.push({ ...where, recoveryPoint: job.recoveryPoint, outcome });
      }
    }
    if (plan.audit && !options.only) for (const finding of await plan.audit(db)) report.findings.push({ ...finding, type });
  }
  return report;
}

/** Jobs and findings that need a person: what makes the reconcile command exit 2. */
export function unresolved(report: ReconcileReport): number {
  return report.jobs.filter((job) => job.outcome === 'unknown').length + report.findings.length;
}
