// One attempt at a payment job, phase by phase from its last recovery point:
//   accepted ──charge at the processor (same key every time)──▶ charge_confirmed ──credit──▶ finished
// An unknown outcome (timeout, 5xx) is never guessed at: the job is retried later with the same
// key, which the processor answers with the charge it already made, if it made one.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import type { TerminalStateHook } from '../contexts/service.ts';
import { completePayment } from '../payments/complete.ts';
import { findPayment } from '../payments/repository.ts';
import { failpoint } from './failpoints.ts';
import { confirmCharge, rescheduleJob, type ClaimedJob } from './jobs.ts';

export type ChargeOutcome =
  | { kind: 'charged'; charge: { id: string } }
  | { kind: 'declined'; charge: { id: string } }
  | { kind: 'rejected'; status: number; detail: string }
  | { kind: 'unknown'; reason: string };

export interface ChargeRequester {
  createCharge(key: string, request: { amount: number; currency: string; source: string }): Promise<ChargeOutcome>;
}

export interface PaymentJobDeps {
  db: Kysely<Database>;
  processor: ChargeRequester;
  workerId: string;
  onTerminalState: TerminalStateHook;
  logger: Logger;
  /** After this many attempts with unknown outcome the job is parked for reconciliation. */
  maxAttempts: number;
  /** First retry delay; doubles per attempt up to backoffCapMs, with jitter. */
  backoffBaseMs: number;
  backoffCapMs: number;
}

export type JobResult = 'finished' | 'retry-scheduled' | 'parked' | 'lease-lost';

export function retryDelaySeconds(attempts: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(baseMs * 2 ** Math.max(0, attempts - 1), capMs);
  return (exponential / 2 + (random() * exponential) / 2) / 1000;
}

export async function runPaymentJob(job: ClaimedJob, deps: PaymentJobDeps): Promise<JobResult> {
  const guard = { workerId: deps.workerId };
  const payment = await findPayment(deps.db, job.tenantId, job.contextId);
  if (!payment) throw new Error(`processing context ${job.contextId} has no payment`);
  let chargeId = payment.charge_id;

  if (job.recoveryPoint === 'accepted') {
    failpoint('before-charge');
    const outcome = await deps.processor.createCharge(payment.processor_key, {
      amount: payment.amount,
      currency: payment.currency,
      source: payment.source,
    });
    failpoint('after-charge');
    switch (outcome.kind) {
      case 'declined': {
        const detail = `The card (${payment.source}) was declined; charge ${outcome.charge.id}.`;
        const done = await completePayment(deps.db, job.tenantId, job.contextId, { kind: 'declined', chargeId: outcome.charge.id, detail }, deps.onTerminalState, guard);
        return done ? 'finished' : 'lease-lost';
      }
      case 'rejected': {
        const detail = `The processor refused the payment (${outcome.status}): ${outcome.detail}`;
        const done = await completePayment(deps.db, job.tenantId, job.contextId, { kind: 'rejected', detail }, deps.onTerminalState, guard);
        return done ? 'finished' : 'lease-lost';
      }
      case 'unknown': {
        const parked = job.attempts >= deps.maxAttempts;
        const delay = parked ? null : retryDelaySeconds(job.attempts, deps.backoffBaseMs, deps.backoffCapMs);
        await rescheduleJob(deps.db, job, deps.workerId, delay, `attempt ${job.attempts}: ${outcome.reason}`);
        deps.logger.warn({ context: job.contextId, attempts: job.attempts, reason: outcome.reason, parked }, 'payment outcome unknown');
        return parked ? 'parked' : 'retry-scheduled';
      }
      case 'charged':
        if (!(await confirmCharge(deps.db, job, deps.workerId, outcome.charge.id))) return 'lease-lost';
        chargeId = outcome.charge.id;
        failpoint('after-confirm');
    }
  }
  if (!chargeId) throw new Error(`context ${job.contextId} is past its charge but has no charge id`);
  const done = await completePayment(deps.db, job.tenantId, job.contextId, { kind: 'charged', chargeId }, deps.onTerminalState, guard);
  return done ? 'finished' : 'lease-lost';
}
