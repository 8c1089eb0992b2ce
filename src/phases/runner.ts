// One attempt at a job, phase by phase from its last recovery point:
//   accepted ──phase 1──▶ phase 1 ──phase 2──▶ … ──last phase──▶ finished
// An unknown outcome (retry) is never guessed at: the job is given back with a backoff, and
// the next attempt, by this worker or another, runs the same phase again with the same key.
// In reconciliation mode the pending external phase is not run: the action's reconcile hook
// says what it did, and the job goes on from that, up to the next external phase.
import { context, SpanStatusCode } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { ACCEPTED, type Phase, type PhasePlan } from '../actions/async-action.ts';
import { done, type PhaseResult } from '../actions/phase-results.ts';
import { retryDelaySeconds } from './backoff.ts';
import { crashIfArmed } from './failpoints.ts';
import { releaseJob, type ClaimedJob } from './jobs.ts';
import { phaseKey } from './keys.ts';
import { callExternal, commitExternal, runTransactional, type StepDeps } from './step.ts';
import { ATTR } from '../telemetry/attributes.ts';
import { contextOfTraceParent } from '../telemetry/trace-parent.ts';
import { CONSUMER, inSpan } from '../telemetry/tracer.ts';

/** One phase run, as the operations journal keeps it for the context's timeline. */
export interface PhaseObservation {
  tenantId: string;
  contextId: string;
  type: string;
  phase: string;
  kind: 'external' | 'transactional';
  attempt: number;
  /** next: committed, the job goes on; done / fail: the job ended; retry: given back; parked: out of attempts. */
  outcome: 'next' | 'done' | 'fail' | 'retry' | 'parked' | 'resumed' | 'lease-lost';
  /** The recovery point after the phase: its name when it committed, the one before it otherwise. */
  recoveryPoint: string;
  error?: string;
  ms: number;
  holder: string;
  mode: 'work' | 'reconcile';
}

export interface RunnerDeps extends StepDeps {
  logger: Logger;
  /** Told of every phase run (the operations journal); must not throw. */
  observePhase?: (observation: PhaseObservation) => void;
  /** Attempts before a job is parked, unless its action says otherwise. */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
}

export type JobResult =
  | 'finished' // the context ended succeeded or failed
  | 'retry-scheduled' // given back, due again after a backoff
  | 'parked' // out of attempts: processing, not due, waiting for reconciliation or a person
  | 'lease-lost' // another worker has the job now; nothing was written
  | 'resumed' // reconciliation: the pending phase did not happen; due again now, attempts reset
  | 'handed-on' // reconciliation: went on as far as it may; due again now for a worker
  | 'unknown'; // reconciliation: the hook could not tell (or there is none); left as it was

/** The index of the phase after recovery point `point`: 0 after acceptance, -1 when `point` names no phase of the plan. */
export function pendingPhaseIndex(plan: PhasePlan, point: string): number {
  if (point === ACCEPTED) return 0;
  const committed = plan.phases.findIndex((phase) => phase.name === point);
  return committed === -1 ? -1 : committed + 1;
}

/** Time an external call may take: up to shortly before the lease ends. */
function leaseSignal(leaseEndsAt: number, leaseSeconds: number): AbortSignal {
  const margin = Math.min(1_000, leaseSeconds * 100);
  return AbortSignal.timeout(Math.max(1, leaseEndsAt - Date.now() - margin));
}

/** What one phase came to: its answer (none when it was not run), and the job's result when the attempt ends with it. */
interface Step {
  result?: PhaseResult;
  end?: JobResult;
}

/**
 * One attempt at `job`, in a span of its own ("job <type>", or "reconcile <type>") that continues
 * the trace of the request that accepted it; each phase run is a child span ("phase <name>").
 */
export function runJob(job: ClaimedJob, plan: PhasePlan, deps: RunnerDeps, mode: 'work' | 'reconcile' = 'work'): Promise<JobResult> {
  const parent = job.traceParent === null ? context.active() : contextOfTraceParent(job.traceParent);
  return inSpan(`${mode === 'work' ? 'job' : 'reconcile'} ${job.type}`, async (span) => {
    if (span.isRecording()) {
      span.setAttributes({
        [ATTR.tenant]: job.tenantId, [ATTR.context]: job.contextId, [ATTR.actionType]: job.type, [ATTR.jobAttempt]: job.attempts,
        [ATTR.jobMode]: mode, [ATTR.worker]: deps.holder, [ATTR.recoveryPoint]: job.recoveryPoint,
      });
    }
    const result = await attempt(job, plan, deps, mode);
    if (span.isRecording()) span.setAttribute(ATTR.jobResult, result);
    return result;
  }, CONSUMER, parent);
}

function tracePhase(phase: Phase<unknown, unknown>, job: ClaimedJob, from: string, run: () => Promise<Step>): Promise<Step> {
  return inSpan(`phase ${phase.name}`, async (span) => {
    const step = await run();
    if (span.isRecording()) {
      span.setAttributes({
        [ATTR.phase]: phase.name, [ATTR.phaseKind]: phase.kind, [ATTR.jobAttempt]: job.attempts, [ATTR.recoveryPoint]: from,
        [ATTR.phaseOutcome]: step.result?.kind ?? 'not-run', ...(step.end ? { [ATTR.jobResult]: step.end } : {}),
      });
      // An unknown outcome is the phase's failure (its reason may quote the provider: not recorded).
      if (step.result?.kind === 'retry') span.setStatus({ code: SpanStatusCode.ERROR });
    }
    return step;
  });
}

async function attempt(job: ClaimedJob, plan: PhasePlan, deps: RunnerDeps, mode: 'work' | 'reconcile'): Promise<JobResult> {
  const scope = { tenantId: job.tenantId, contextId: job.contextId };
  const outputs: Record<string, unknown> = { ...job.outputs };
  let point = job.recoveryPoint;
  let asked = false; // reconciliation asks its hook once, for the first external phase it meets
  const given = (schedule: Parameters<typeof releaseJob>[3]) => releaseJob(deps.db, job, deps.holder, schedule);
  let phaseStarted = Date.now();
  const observe = (phase: string, outcome: PhaseObservation['outcome'], error?: string) => {
    const kind = plan.phases.find((candidate) => candidate.name === phase)?.kind ?? 'transactional';
    const recoveryPoint = outcome === 'next' || outcome === 'done' || outcome === 'fail' ? phase : point;
    deps.observePhase?.({
      ...scope, type: job.type, phase, kind, attempt: job.attempts, outcome, recoveryPoint,
      ...(error === undefined ? {} : { error }), ms: Date.now() - phaseStarted, holder: deps.holder, mode,
    });
  };

  const giveBack = async (result: Extract<PhaseResult, { kind: 'retry' }>, phase: string): Promise<JobResult> => {
    const error = `attempt ${job.attempts}, phase ${phase}: ${result.reason}`;
    if (mode === 'reconcile') {
      const resumed = await given({ delaySeconds: 0, error, resetAttempts: true });
      observe(phase, resumed ? 'resumed' : 'lease-lost', result.reason);
      return resumed ? 'resumed' : 'lease-lost';
    }
    const parked = job.attempts >= (plan.maxAttempts ?? deps.maxAttempts);
    const delay = parked ? null : (result.delaySeconds ?? retryDelaySeconds(job.attempts, deps.backoffBaseMs, deps.backoffCapMs));
    const released = await given({ delaySeconds: delay, error });
    observe(phase, !released ? 'lease-lost' : parked ? 'parked' : 'retry', result.reason);
    if (!released) return 'lease-lost';
    deps.logger.warn({ context: job.contextId, type: job.type, phase, attempts: job.attempts, reason: result.reason, parked }, 'phase outcome unknown');
    return parked ? 'parked' : 'retry-scheduled';
  };
  const ended = (phase: string, committed: 'next' | 'finished' | 'lease-lost', result: PhaseResult) =>
    observe(phase, committed === 'lease-lost' ? 'lease-lost' : result.kind === 'fail' ? 'fail' : result.kind === 'done' ? 'done' : 'next');

  const runPhase = async (phase: Phase<unknown, unknown>, from: string): Promise<Step> => {
    const call = { scope, action: job.action, outputs, attempt: job.attempts };
    crashIfArmed(deps.crashAt, 'before', phase.name);
    phaseStarted = Date.now();
    let result: PhaseResult;
    if (phase.kind === 'external') {
      const signal = leaseSignal(job.leaseEndsAt, deps.leaseSeconds);
      const key = phaseKey(scope, phase.name);
      if (mode === 'reconcile') {
        if (asked) return { end: (await given({ delaySeconds: 0 })) ? 'handed-on' : 'lease-lost' };
        asked = true;
        const answer = plan.reconcile ? await plan.reconcile({ ...call, key, signal, phase: phase.name }).catch(() => undefined) : undefined;
        if (answer === undefined) return { end: (await given('unchanged')) ? 'unknown' : 'lease-lost' };
        result = answer;
      } else {
        result = await callExternal(phase, { ...call, key, signal });
      }
      crashIfArmed(deps.crashAt, 'after', phase.name);
      if (result.kind === 'retry') return { result, end: await giveBack(result, phase.name) };
      const started = Date.now();
      const committed = await commitExternal(job, from, phase.name, result, deps);
      ended(phase.name, committed, result);
      if (committed === 'lease-lost') return { result, end: 'lease-lost' };
      job.leaseEndsAt = started + deps.leaseSeconds * 1000;
      crashIfArmed(deps.crashAt, 'committed', phase.name);
      if (committed === 'finished') return { result, end: 'finished' };
    } else {
      const started = Date.now();
      const step = await runTransactional(job, from, phase, call, deps);
      result = step.result;
      if (step.committed !== 'rolled-back') ended(phase.name, step.committed, result);
      if (step.committed === 'lease-lost') return { result, end: 'lease-lost' };
      if (step.committed === 'rolled-back') return { result, end: await giveBack(step.result as Extract<PhaseResult, { kind: 'retry' }>, phase.name) };
      job.leaseEndsAt = started + deps.leaseSeconds * 1000;
      crashIfArmed(deps.crashAt, 'committed', phase.name);
      if (step.committed === 'finished') return { result, end: 'finished' };
    }
    if (result.kind === 'next') outputs[phase.name] = result.output ?? null;
    return { result };
  };

  for (;;) {
    const index = pendingPhaseIndex(plan, point);
    if (index === -1) {
      return giveBack({ kind: 'retry', reason: `recovery point "${point}" is not a phase of "${plan.type}" (was the action changed?)` }, point);
    }
    const phase = plan.phases[index];
    if (!phase) {
      // A phase list that shrank in a deploy: what the last phase saved is the result.
      const last = outputs[point];
      const result = done(typeof last === 'object' && last !== null && !Array.isArray(last) ? (last as Record<string, unknown>) : {});
      const committed = await commitExternal(job, point, point, result, deps);
      return committed === 'finished' ? 'finished' : 'lease-lost';
    }
    const from = point;
    const step = await tracePhase(phase, job, from, () => runPhase(phase, from));
    if (step.end !== undefined) return step.end;
    point = phase.name;
  }
}
