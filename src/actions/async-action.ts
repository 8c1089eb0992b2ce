// Asynchronous actions: accepted with 202 in the request's transaction, then finished by a
// worker in ordered, named phases (src/phases/). Each phase ends with a result that commits a
// recovery point, so a crashed or slow worker's job is taken over exactly where it stopped.
//   - A transactional phase runs in a transaction with the context row locked; what it writes
//     commits together with its result (and is rolled back if it answers retry).
//   - An external phase runs outside any transaction — it calls the world — with an idempotency
//     key derived from tenant, context and phase (the same on every retry and after a takeover),
//     an abort signal bounded by the lease, and the outputs the earlier steps saved.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { bodyValidator, type JsonSchema } from '../http/validation.ts';
import { checkActionType, type ActionHandler, type ActionScope } from './registry.ts';
import { isPhaseResult, type AcceptResult, type PhaseResult } from './phase-results.ts';

/** The step names the engine itself records as recovery points. */
export const ACCEPTED = 'accepted';
export const FINISHED = 'finished';
const PHASE_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

export interface PhaseCall<A> {
  readonly scope: ActionScope;
  /** The action as it was accepted (validated against the schema then). */
  readonly action: A;
  /** What the accepting step (`accepted`) and each earlier phase saved, by name. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** Which attempt at the job this is (1 on the first claim; every claim counts). */
  readonly attempt: number;
}

export interface ExternalCall<A> extends PhaseCall<A> {
  /** The idempotency key to send: derived from tenant, context and phase, never random. */
  readonly key: string;
  /** Aborted shortly before the lease runs out, when another worker may take the job over. */
  readonly signal: AbortSignal;
}

export interface ExternalPhase<A> {
  readonly kind: 'external';
  readonly name: string;
  run(call: ExternalCall<A>): Promise<PhaseResult>;
}

export interface TransactionalPhase<A, DB = Database> {
  readonly kind: 'transactional';
  readonly name: string;
  run(trx: Transaction<DB>, call: PhaseCall<A>): Promise<PhaseResult>;
}

export type Phase<A, DB = Database> = ExternalPhase<A> | TransactionalPhase<A, DB>;

export function externalPhase<A>(name: string, run: ExternalPhase<A>['run']): ExternalPhase<A> {
  return { kind: 'external', name, run };
}

export function transactionalPhase<A, DB = Database>(name: string, run: TransactionalPhase<A, DB>['run']): TransactionalPhase<A, DB> {
  return { kind: 'transactional', name, run };
}

/** Asked by reconciliation instead of running the external phase `phase`: what did it do? */
export interface ReconcileCall<A> extends ExternalCall<A> {
  readonly phase: string;
}

/** A finding of an action's audit: something reconciliation could not (or may not) repair alone. */
export interface AuditFinding {
  readonly kind: string;
  readonly key?: string;
  readonly tenantId?: string;
  readonly contextId?: string;
  readonly detail?: string;
  readonly [extension: string]: unknown;
}

export interface AsyncActionDefinition<A, DB = Database> {
  readonly type: string;
  /** JSON Schema 2020-12 of the action object, including its `type` member. */
  readonly schema: JsonSchema;
  /**
   * Runs in the request's transaction with the context row locked (default: `next(null)`).
   * `next(output)` accepts the action (202; the output is saved as `outputs.accepted`); `fail`
   * or `done` end it at once (200/201). Throw a ProblemError to refuse the request (422).
   */
  accept?(trx: Transaction<DB>, scope: ActionScope, action: A): Promise<AcceptResult>;
  /** In order; `next` from the last phase completes the action with its output as the result. */
  readonly phases: readonly Phase<A, DB>[];
  /**
   * Optional: finds out, without doing it, what the external phase `call.phase` did (for
   * example by looking the key up at the provider). Answer `next(output)` if it happened,
   * `fail`/`done` if it settled the action, `retry` if it did not happen (the job is resumed
   * now, with the same key), or undefined when nothing can be told.
   */
  reconcile?(call: ReconcileCall<A>): Promise<PhaseResult | undefined>;
  /** Optional: checks beyond single jobs (the provider's records against ours), for the report. */
  audit?(db: Kysely<Database>): Promise<AuditFinding[]>;
  /** After this many attempts whose outcome stayed unknown, the job is parked; default the worker's. */
  readonly maxAttempts?: number;
}

/** An asynchronous action as the worker sees it: its phases and hooks, the action untyped. */
export interface PhasePlan {
  readonly type: string;
  readonly phases: readonly Phase<unknown, unknown>[];
  readonly reconcile?: (call: ReconcileCall<unknown>) => Promise<PhaseResult | undefined>;
  readonly audit?: (db: Kysely<Database>) => Promise<AuditFinding[]>;
  readonly maxAttempts?: number;
}

function checkPhases(type: string, phases: readonly { name: string }[]): void {
  if (phases.length === 0) throw new TypeError(`Asynchronous action "${type}" needs at least one phase`);
  const seen = new Set<string>();
  for (const { name } of phases) {
    if (!PHASE_NAME.test(name)) throw new TypeError(`Phase name ${JSON.stringify(name)} of "${type}" must match ${PHASE_NAME}`);
    if (name === ACCEPTED || name === FINISHED) throw new TypeError(`Phase name "${name}" of "${type}" is reserved`);
    if (seen.has(name)) throw new TypeError(`Phase "${name}" of "${type}" is declared twice`);
    seen.add(name);
  }
}

export function defineAsyncAction<A, DB = Database>(definition: AsyncActionDefinition<A, DB>): ActionHandler {
  checkActionType(definition.type);
  checkPhases(definition.type, definition.phases);
  if (definition.maxAttempts !== undefined && !(Number.isInteger(definition.maxAttempts) && definition.maxAttempts >= 1)) {
    throw new TypeError(`maxAttempts of "${definition.type}" must be a whole number ≥ 1`);
  }
  const validate = bodyValidator<A>(definition.schema, 'invalid-action');
  // The action stored with a job was validated against the schema when it was accepted.
  const plan = {
    type: definition.type,
    phases: definition.phases,
    ...(definition.reconcile ? { reconcile: definition.reconcile } : {}),
    ...(definition.audit ? { audit: definition.audit } : {}),
    ...(definition.maxAttempts === undefined ? {} : { maxAttempts: definition.maxAttempts }),
  } as unknown as PhasePlan;
  return {
    type: definition.type,
    schema: definition.schema,
    plan,
    prepare(action) {
      const valid = validate(action);
      return async (trx, scope) => {
        const accepted: unknown = definition.accept ? await definition.accept(trx as unknown as Transaction<DB>, scope, valid) : { kind: 'next', output: null };
        if (!isPhaseResult(accepted) || accepted.kind === 'retry') {
          throw new TypeError(`The accepting step of "${definition.type}" must answer next(), fail() or done()`);
        }
        switch (accepted.kind) {
          case 'next':
            return { state: 'processing', accepted: accepted.output ?? null };
          case 'fail':
            return { state: 'failed', error: accepted.problem };
          case 'done':
            return { state: 'succeeded', result: accepted.result };
        }
      };
    },
  };
}
