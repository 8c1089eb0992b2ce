// Actions are what a context executes. Each kind registers a handler; the engine validates the
// request against the handler's schema and runs it inside the transaction that bumps the
// context's version, so the effect and the record of it commit (or roll back) together.
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { ProblemError, type ProblemDocument } from '../http/problems.ts';
import { bodyValidator, type JsonSchema } from '../http/validation.ts';

export interface ActionScope {
  readonly tenantId: string;
  readonly contextId: string;
}

/**
 * A business outcome; each is recorded and none is a protocol error. `processing` accepts an
 * asynchronous action: the context answers 202 and a worker completes it (see src/worker/).
 */
export type ActionOutcome =
  | { readonly state: 'succeeded'; readonly result: Record<string, unknown> }
  | { readonly state: 'failed'; readonly error: ProblemDocument }
  | { readonly state: 'processing' };

export interface ActionDefinition<A> {
  readonly type: string;
  /** JSON Schema 2020-12 of the action object, including its `type` member. */
  readonly schema: JsonSchema;
  /** Throw a ProblemError (422) for an action that cannot run at all; it rolls everything back. */
  execute(trx: Transaction<Database>, scope: ActionScope, action: A): Promise<ActionOutcome>;
}

export interface ActionHandler {
  readonly type: string;
  readonly schema: JsonSchema;
  /** Validates the action (422 `invalid-action`) and returns the step that executes it. */
  prepare(action: unknown): (trx: Transaction<Database>, scope: ActionScope) => Promise<ActionOutcome>;
}

export function defineAction<A>(definition: ActionDefinition<A>): ActionHandler {
  const validate = bodyValidator<A>(definition.schema, 'invalid-action');
  return {
    type: definition.type,
    schema: definition.schema,
    prepare(action) {
      const valid = validate(action);
      return (trx, scope) => definition.execute(trx, scope, valid);
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

  register(handler: ActionHandler): this {
    if (this.#handlers.has(handler.type)) throw new Error(`Action type "${handler.type}" is already registered`);
    this.#handlers.set(handler.type, handler);
    return this;
  }

  types(): string[] {
    return [...this.#handlers.keys()];
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
