import type { Context, Middleware } from 'koa';

/** What a finished request looked like: its final status (500 if it threw) and its duration. */
export interface Observation {
  status: number;
  elapsedNs: bigint;
}

/**
 * Calls `record` once per request, after everything downstream has run (or thrown). Shared by the
 * request log and the metrics, so both see the same status and the same clock.
 */
export function observeRequests(record: (ctx: Context, observation: Observation) => void): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    let failed = false;
    try {
      await next();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      record(ctx, { status: failed ? 500 : ctx.status, elapsedNs: process.hrtime.bigint() - started });
    }
  };
}
