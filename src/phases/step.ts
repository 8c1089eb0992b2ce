// One step of a job, run and committed: an external phase's call (outside any transaction) and
// the commit of what it answered, or a transactional phase and its result in one transaction
// under the context's row lock. Nothing else writes recovery points or finishes a job.
import type { Kysely, Transaction } from 'kysely';
import type { ExternalCall, Phase, PhaseCall, TransactionalPhase } from '../actions/async-action.ts';
import { isPhaseResult, retry, type PhaseResult } from '../actions/phase-results.ts';
import { lockContext, type ContextRow } from '../contexts/repository.ts';
import { writeContextState, type TerminalStateHook } from '../contexts/state-writer.ts';
import type { Database } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import { ATTR } from '../telemetry/attributes.ts';
import { inSpan } from '../telemetry/tracer.ts';
import { crashIfArmed } from './failpoints.ts';
import { commitRecoveryPoint, type ClaimedJob } from './jobs.ts';

export interface StepDeps {
  db: Kysely<Database>;
  holder: string;
  leaseSeconds: number;
  onTerminalState?: TerminalStateHook;
  /** The engine's mount path, which the final representation's links name. */
  basePath?: string;
  crashAt?: string;
}

/** What committing a step came to. */
export type Committed = 'next' | 'finished' | 'lease-lost';

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A phase's answer, or a retry that says what went wrong: a throw or a wrong answer is never a final outcome. */
export function checkedResult(phase: string, answer: unknown): PhaseResult {
  if (isPhaseResult(answer)) return answer;
  return retry(`phase ${phase} answered ${JSON.stringify(answer) ?? String(answer)}, not next(), retry(), fail() or done()`);
}

export async function callExternal(phase: Extract<Phase<unknown, unknown>, { kind: 'external' }>, call: ExternalCall<unknown>): Promise<PhaseResult> {
  try {
    return checkedResult(phase.name, await phase.run(call));
  } catch (error) {
    return retry(`phase ${phase.name} threw: ${describe(error)}`);
  }
}

/** The job is still this holder's, at the recovery point it started the step from. */
function stillHeld(row: ContextRow | undefined, holder: string, from: string): row is ContextRow {
  return row !== undefined && row.state === 'processing' && row.locked_by === holder && (row.recovery_point ?? 'accepted') === from;
}

/** The context's row, locked, if the job is still this holder's at `from` (span "context lock"). */
function lockHeld(trx: Transaction<Database>, job: ClaimedJob, holder: string, from: string): Promise<ContextRow | undefined> {
  return inSpan('context lock', async (span) => {
    const row = await lockContext(trx, job.tenantId, job.contextId);
    const held = stillHeld(row, holder, from);
    if (span.isRecording()) span.setAttribute(ATTR.decision, held ? 'held' : 'lease-lost');
    return held ? row : undefined;
  });
}

async function finishLocked(trx: Transaction<Database>, job: ClaimedJob, row: ContextRow, result: Extract<PhaseResult, { kind: 'fail' | 'done' }>, deps: StepDeps): Promise<void> {
  const outcome = result.kind === 'done' ? { state: 'succeeded' as const, result: result.result } : { state: 'failed' as const, error: result.problem };
  await writeContextState(trx, job.tenantId, row, { kind: 'finish', outcome }, deps);
}

/** Commits what an external phase (or reconciliation, for it) answered: next, fail or done. */
export async function commitExternal(job: ClaimedJob, from: string, phase: string, result: Exclude<PhaseResult, { kind: 'retry' }>, deps: StepDeps): Promise<Committed> {
  if (result.kind === 'next') {
    const committed = await commitRecoveryPoint(deps.db, job, deps.holder, from, phase, result.output, deps.leaseSeconds);
    return committed ? 'next' : 'lease-lost';
  }
  return inTransaction(deps.db, async (trx) => {
    const row = await lockHeld(trx, job, deps.holder, from);
    if (!row) return 'lease-lost';
    await finishLocked(trx, job, row, result, deps);
    return 'finished';
  });
}

class RolledBackForRetry extends Error {
  constructor(readonly result: Extract<PhaseResult, { kind: 'retry' }>) {
    super(result.reason);
  }
}

/**
 * Runs a transactional phase with the context row locked. What it wrote commits with its result
 * (the next recovery point, or the final state); on retry, or if it throws, it is rolled back.
 */
export async function runTransactional(
  job: ClaimedJob,
  from: string,
  phase: TransactionalPhase<unknown, unknown>,
  call: PhaseCall<unknown>,
  deps: StepDeps,
): Promise<{ committed: Committed; result: PhaseResult } | { committed: 'rolled-back'; result: PhaseResult }> {
  try {
    return await inTransaction(deps.db, async (trx) => {
      const row = await lockHeld(trx, job, deps.holder, from);
      if (!row) return { committed: 'lease-lost' as const, result: retry('lease lost') };
      // The phase's own statements, in a span of their own (the phase's span is the transaction's parent).
      const result = checkedResult(phase.name, await inSpan('phase statements', () => phase.run(trx as unknown as Transaction<unknown>, call)));
      if (result.kind === 'retry') throw new RolledBackForRetry(result);
      if (result.kind === 'next') {
        if (!(await commitRecoveryPoint(trx, job, deps.holder, from, phase.name, result.output, deps.leaseSeconds))) throw new Error('recovery point changed under the row lock');
      } else {
        await finishLocked(trx, job, row, result, deps);
      }
      crashIfArmed(deps.crashAt, 'inside', phase.name);
      return { committed: result.kind === 'next' ? ('next' as const) : ('finished' as const), result };
    });
  } catch (error) {
    if (error instanceof RolledBackForRetry) return { committed: 'rolled-back', result: error.result };
    return { committed: 'rolled-back', result: retry(`phase ${phase.name} failed: ${describe(error)}`) };
  }
}
