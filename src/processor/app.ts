// A simulated external card processor with its own idempotency keys, and faults to inject: the
// unreliable third party that the payment worker has to cope with.
import type { Socket } from 'node:net';
import Koa, { type Context, type Middleware } from 'koa';
import Router from '@koa/router';
import type pg from 'pg';
import { pino, type Logger } from 'pino';
import { isDatabaseUnavailable } from '../http/errors.ts';
import { requestLog } from '../http/request-log.ts';
import { findChargeByKey, listChargesAfter, recordCharge, renderCharge, type ChargeRow, type ChargeStatus } from './charges.ts';
import { roll, type FaultConfig } from './faults.ts';
import { ProcessorProblem, sendProcessorProblem, type ProcessorProblemSlug } from './problems.ts';
import { chargeFingerprint, isIdempotencyKey, readChargeRequest, requireIdempotencyKey } from './request.ts';

export interface ProcessorDeps {
  pool: pg.Pool;
  /** Read on every request: change its fields at run time to switch faults on and off. */
  faults: FaultConfig;
  logger?: Logger;
  /** Source of randomness for the fault rates (default Math.random). */
  random?: () => number;
}

/** Test tokens, in the manner of well-known processors. */
export const TOKEN_OK = 'tok_ok';
export const TOKEN_DECLINED = 'tok_declined';

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits `ms`, or less if the peer goes away first (nobody is left to notice the hang). */
function hang(socket: Socket, ms: number): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.once('close', done);
  });
}

/** undefined: the processor does not know this source (nothing is charged). */
function outcomeFor(source: string, faults: FaultConfig): ChargeStatus | undefined {
  // The decline list comes first, so a test can make even tok_ok decline.
  if (source === TOKEN_DECLINED || faults.declineSources.includes(source)) return 'declined';
  if (source === TOKEN_OK) return 'succeeded';
  return undefined;
}

function sendCharge(ctx: Context, row: ChargeRow, created: boolean): void {
  // 201 for a new charge, 200 for a replayed one; a decline is 402 either way (the card was
  // refused, the request itself was fine).
  ctx.status = row.status === 'declined' ? 402 : created ? 201 : 200;
  if (created) ctx.set('Location', `/charges/${encodeURIComponent(row.idempotencyKey)}`);
  else ctx.set('Idempotent-Replayed', 'true');
  ctx.body = renderCharge(row);
}

function bodyErrorSlug(error: unknown): ProcessorProblemSlug | undefined {
  const type = (error as { type?: unknown }).type;
  if (type === 'entity.too.large') return 'payload-too-large';
  if (type === 'request.aborted' || type === 'request.size.invalid' || type === 'encoding.unsupported') return 'malformed-body';
  return undefined;
}

function processorErrors(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.respond !== false && (ctx.body === undefined || ctx.body === null)) {
        if (ctx.status === 404) sendProcessorProblem(ctx, 'not-found', `No resource at ${ctx.path}.`);
        else if (ctx.status === 405) sendProcessorProblem(ctx, 'method-not-allowed', `${ctx.method} is not allowed on ${ctx.path}.`);
      }
    } catch (error) {
      if (error instanceof ProcessorProblem) {
        sendProcessorProblem(ctx, error.slug, error.detail);
        return;
      }
      const bodySlug = bodyErrorSlug(error);
      if (bodySlug) {
        sendProcessorProblem(ctx, bodySlug, error instanceof Error ? error.message : undefined);
        return;
      }
      if (isDatabaseUnavailable(error)) {
        logger.warn({ err: error }, 'processor database unavailable');
        ctx.set('Retry-After', '1');
        sendProcessorProblem(ctx, 'unavailable', 'The processor cannot reach its database.');
        return;
      }
      logger.error({ err: error, method: ctx.method, path: ctx.path }, 'processor: unhandled error');
      sendProcessorProblem(ctx, 'internal-error');
    }
  };
}

function singleQueryParam(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) throw new ProcessorProblem('invalid-parameter', `Give "${name}" at most once.`);
  return value;
}

export function createProcessorApp(deps: ProcessorDeps): Koa {
  const { pool, faults } = deps;
  const logger = deps.logger ?? pino({ level: 'silent' });
  const random = deps.random ?? Math.random;
  const app = new Koa();
  app.proxy = false;
  const router = new Router();

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.post('/charges', async (ctx) => {
    const key = requireIdempotencyKey(ctx);
    const request = await readChargeRequest(ctx);

    // Faults, in order. The request was read in full first, so a slow answer still charges after
    // the caller gave up waiting, as a real processor would.
    if (faults.slowMs > 0) await sleep(faults.slowMs);
    if (roll(faults.refuseBeforeChargeRate, random)) {
      ctx.set('Retry-After', '1');
      throw new ProcessorProblem('unavailable', 'Injected fault: refused before charging; nothing was charged.');
    }

    const fingerprint = chargeFingerprint(request);
    // Replays are answered from one read; only a new key takes the insert path.
    // The source is judged only for a new key, so a replay keeps its recorded outcome even after
    // faults.declineSources changed.
    const existing = await findChargeByKey(pool, key);
    let row: ChargeRow;
    let created = false;
    if (existing) row = existing;
    else {
      const status = outcomeFor(request.source, faults);
      if (status === undefined) {
        throw new ProcessorProblem('unknown-source', `Unknown source "${request.source}"; use "${TOKEN_OK}" or "${TOKEN_DECLINED}".`);
      }
      ({ row, created } = await recordCharge(pool, { idempotencyKey: key, ...request, status, requestFingerprint: fingerprint }));
    }
    if (row.requestFingerprint !== fingerprint) {
      throw new ProcessorProblem('idempotency-key-reused', 'This Idempotency-Key was used for a charge with another amount, currency or source.');
    }

    if (roll(faults.failAfterChargeRate, random)) {
      throw new ProcessorProblem('injected-failure', `Injected fault: charge ${row.id} is recorded, but this answer says otherwise.`);
    }
    if (roll(faults.timeoutAfterChargeRate, random)) {
      logger.info({ charge: row.id, hangMs: faults.hangMs }, 'injected fault: hanging, then dropping the connection');
      ctx.respond = false;
      const socket = ctx.req.socket;
      await hang(socket, faults.hangMs);
      socket.destroy();
      return;
    }
    sendCharge(ctx, row, created);
  });

  router.get('/charges/:key', async (ctx) => {
    const key = ctx.params['key'] ?? '';
    // A key that could not have been accepted cannot have a charge.
    const row = isIdempotencyKey(key) ? await findChargeByKey(pool, key) : undefined;
    if (!row) throw new ProcessorProblem('charge-not-found', `No charge has the Idempotency-Key ${JSON.stringify(key)}.`);
    ctx.body = renderCharge(row);
  });

  router.get('/charges', async (ctx) => {
    const limitText = singleQueryParam(ctx, 'limit');
    const after = singleQueryParam(ctx, 'after');
    let limit = DEFAULT_LIST_LIMIT;
    if (limitText !== undefined) {
      limit = Number(limitText);
      if (!/^\d{1,4}$/.test(limitText) || limit < 1 || limit > MAX_LIST_LIMIT) {
        throw new ProcessorProblem('invalid-parameter', `"limit" must be a whole number from 1 to ${MAX_LIST_LIMIT}.`);
      }
    }
    if (after !== undefined && !/^\d{1,18}$/.test(after)) {
      throw new ProcessorProblem('invalid-parameter', '"after" must be a cursor from a previous page ("next").');
    }
    const rows = await listChargesAfter(pool, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    ctx.body = {
      charges: page.map(renderCharge),
      ...(rows.length > limit && last ? { next: last.seq } : {}),
    };
  });

  app.use(requestLog(logger));
  app.use(processorErrors(logger));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
