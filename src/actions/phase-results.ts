// What a step of an asynchronous action answers. Each is a plain value, so a phase reads as the
// decision it makes: `return next({ shipmentId })`, `return retry('provider answered 503')`.
import type { ProblemDocument } from '../http/problems.ts';

/** Go on to the next phase; `output` (JSON) is saved with the recovery point for the phases after it. */
export interface Next {
  readonly kind: 'next';
  readonly output: unknown;
}
/** The outcome is unknown or the call failed transiently: try this phase again later, with the same key. */
export interface Retry {
  readonly kind: 'retry';
  readonly reason: string;
  /** At the earliest this many seconds from now; default: the worker's exponential backoff. */
  readonly delaySeconds?: number;
}
/** Fail for good: the context ends `failed` with this problem as its `error`. */
export interface Fail {
  readonly kind: 'fail';
  readonly problem: ProblemDocument;
}
/** The action is complete: the context ends `succeeded` with this `result`. */
export interface Done {
  readonly kind: 'done';
  readonly result: Record<string, unknown>;
}

export type PhaseResult = Next | Retry | Fail | Done;
/** The accepting step runs in the request's transaction: it can go on, end at once, or fail — not retry. */
export type AcceptResult = Next | Fail | Done;

export const next = (output: unknown = null): Next => ({ kind: 'next', output });
export const retry = (reason: string, options: { delaySeconds?: number } = {}): Retry => ({
  kind: 'retry',
  reason,
  ...(options.delaySeconds === undefined ? {} : { delaySeconds: options.delaySeconds }),
});
export const fail = (problem: ProblemDocument): Fail => ({ kind: 'fail', problem });
export const done = (result: Record<string, unknown> = {}): Done => ({ kind: 'done', result });

export function isPhaseResult(value: unknown): value is PhaseResult {
  const kind = (value as { kind?: unknown } | null)?.kind;
  return kind === 'next' || kind === 'retry' || kind === 'fail' || kind === 'done';
}
