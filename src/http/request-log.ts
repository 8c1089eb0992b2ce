import type { Middleware } from 'koa';
import type { Logger } from 'pino';

/** One line per request. The Authorization header is never logged. */
export function requestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const tenant = (ctx.state as { tenant?: { id: string } }).tenant;
      logger.info({
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
        tenant: tenant?.id,
        replayed: ctx.response.get('Idempotent-Replayed') === 'true' || undefined,
      }, 'request');
    }
  };
}
