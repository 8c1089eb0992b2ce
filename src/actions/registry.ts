// Actions are what a context executes. Each kind registers a handler; the engine validates the
// request against the handler's schema and runs it inside the transaction that bumps the
// context's version, so the effect and the record of it commit (or roll back) together.
// Synchronous actions are defined here; asynchronous ones, whose work a worker finishes in
// phases, in async-action.ts.
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { ProblemError, type ProblemDocument } from '../http/problems.ts';
import { bodyValidator, type JsonSchema } from '../http/validation.ts';
import type { PhasePlan } from './async-action.ts';

export interface ActionScope {
  readonly tenantId: string;
  readonly contextId: string;
}

/** The outcome of a synchronous action; each is recorded and none is a protocol error. */
export type ActionOutcome =
  | { readonly state: 'succeeded'; readonly result: Record<string, unknown> }
  | { readonly state: 'failed'; readonly error: ProblemDocument };

/** What executing an action decided: an outcome, or (asynchronous actions) acceptance as a job. */
export type ExecutionOutcome = ActionOutcome | { readonly state: 'processing'; readonly accepted: unknown };

export interface ActionDefinition<A, DB = Database> {
  readonly type: string;
  /** JSON Schema 2020-12 of the action object, including its `type` member. */
  readonly schema: JsonSchema;
  /**
   * Runs in the request's transaction with the context row locked; what it writes through `trx`
   * commits exactly once, with the record a retry is answered from. Throw a ProblemError (422)
   * for an action that cannot run at all: everything is rolled back.
   */
  execute(trx: Transaction<DB>, scope: ActionScope, action: A): Promise<ActionOutcome>;
}

export interface ActionHandler {
  readonly type: string;
  readonly schema: JsonSchema;
  /** Validates the action (422 `invalid-action`) and returns the step that executes (or accepts) it. */
  prepare(action: unknown): (trx: Transaction<Database>, scope: ActionScope) => Promise<ExecutionOutcome>;
  /** Asynchronous actions only: the phases a worker runs after the 202. */
  readonly plan?: PhasePlan;
}

export const ACTION_TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkActionType(type: string): void {
  if (!ACTION_TYPE.test(type)) throw new TypeError(`Action type ${JSON.stringify(type)} must match ${ACTION_TYPE}`);
}

export function defineAction<A, DB = Database>(definition: ActionDefinition<A, DB>): ActionHandler {
  checkActionType(definition.type);
  const validate = bodyValidator<A>(definition.schema, 'invalid-action');
  return {
    type: definition.type,
    schema: definition.schema,
    prepare(action) {
      const valid = validate(action);
      return async (trx, scope) => {
        // The engine's transaction; the host's own tables are in it too (DB describes them).
        const outcome: { state?: unknown } = await definition.execute(trx as unknown as Transaction<DB>, scope, valid);
        if (outcome.state !== 'succeeded' && outcome.state !== 'failed') {
          throw new TypeError(
            `Action "${definition.type}" answered state ${JSON.stringify(outcome.state)}; a synchronous action ends succeeded or failed ` +
              '(define an asynchronous one with defineAsyncAction).',
          );
        }
        return outcome as ActionOutcome;
      };
    },
  };
}

const envelope = bodyValidator<{ action: { type: string } }>(
  {
    type: 'object',
    required: ['action'],
    properties: {
      action: { type: 'object', required: ['type'], properties: { type: { type: 'string' } } },
    },
    additionalProperties: false,
  },
  'invalid-action',
);

export class ActionRegistry {
  readonly #handlers = new Map<string, ActionHandler>();
  /** asynchronous(), kept until the next register(): a worker asks for it on every claim. */
  #plans: ReadonlyMap<string, PhasePlan> | undefined;

  register(handler: ActionHandler): this {
    if (this.#handlers.has(handler.type)) throw new Error(`Action type "${handler.type}" is already registered`);
    this.#handlers.set(handler.type, handler);
    this.#plans = undefined;
    return this;
  }

  types(): string[] {
    return [...this.#handlers.keys()];
  }

  /** The asynchronous action types and their phase plans: what a worker of this registry claims. */
  asynchronous(): ReadonlyMap<string, PhasePlan> {
    if (!this.#plans) {
      const plans = new Map<string, PhasePlan>();
      for (const [type, handler] of this.#handlers) if (handler.plan) plans.set(type, handler.plan);
      this.#plans = plans;
    }
    return this.#plans;
  }

  /** Validates a request body `{"action": {...}}` (422 on any violation) and prepares its execution. */
  prepare(body: unknown): { action: Record<string, unknown>; run: ReturnType<ActionHandler['prepare']> } {
    const { action } = envelope(body);
    const handler = this.#handlers.get(action.type);
    if (!handler) {
      throw new ProblemError(
        'invalid-action',
        `/action/type "${action.type}" is not a known action; known types: ${this.types().join(', ')}`,
      );
    }
    return { action, run: handler.prepare(action) };
  }
}
