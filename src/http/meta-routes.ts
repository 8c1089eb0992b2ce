import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { ContextChangeListener } from '../contexts/change-listener.ts';
import { sendsNamedStatements } from '../db/database.ts';
import type { Database } from '../db/schema.ts';
import type { Logger } from 'pino';
import { migrationsApplied } from '../db/migrate.ts';
import { link } from './hal.ts';
import { HAL_JSON } from './media.ts';
import { ProblemError } from './problems.ts';
import { isDatabaseUnavailable } from './errors.ts';
import type { AuthState } from './auth.ts';

export const OPENAPI_PATH = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));

/** What /readyz reports beside the database: how statements are sent, whether long-polls hear changes. */
export interface ReadinessSources {
  db: Kysely<Database>;
  listener: ContextChangeListener;
  /** Where a change of readiness is logged (once, when it turns). */
  logger?: Logger | undefined;
}

/** The entry point, health probes and the spec. */
export function metaRoutes(pool: pg.Pool, sources?: ReadinessSources): Router<Partial<AuthState>> {
  const logger = sources?.logger;
  const router = new Router<Partial<AuthState>>();

  router.get('/', (ctx) => {
    ctx.type = HAL_JSON;
    ctx.body = JSON.stringify({
      name: 'idempotence-service',
      _links: {
        self: link('/'),
        contexts: link('/contexts', 'Idempotence contexts: POST to create, PUT an action to execute it once'),
        accounts: link('/accounts', 'Ledger accounts: POST to open one'),
        webhooks: link('/webhooks', 'Webhook endpoints: POST a URL to receive final states'),
        openapi: link('/openapi.yaml'),
      },
    });
  });

  // Liveness: the process answers. Says nothing about the database on purpose.
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  // Readiness: the database answers within the bound of any statement (the pool's query timeout,
  // else its connect timeout) and every migration is applied. A silent database is unready
  // within that bound, however long the statement itself would have waited. The checks say more
  // without deciding it: unnamed statements (a pooler was detected) and a LISTEN that hears
  // nothing only cost speed — long-polls then wake on their recheck timer — never a wrong answer.
  const boundMs = pool.options.query_timeout || pool.options.connectionTimeoutMillis || 5_000;
  let wasReady: boolean | undefined;
  router.get('/readyz', async (ctx) => {
    // Why, in words a public probe may read (the error itself, with hosts and ports, goes to the log).
    let unready: string | undefined;
    let cause: unknown;
    try {
      const applied = await within(migrationsApplied(pool), boundMs);
      if (applied === TOO_LATE) unready = `the database did not answer within ${boundMs} ms`;
      else if (!applied) unready = 'the database is not fully migrated';
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      unready = 'the database cannot be reached';
      cause = error;
    }
    const ready = unready === undefined;
    if (!ready && wasReady !== false) logger?.warn({ reason: unready, err: cause }, 'not ready');
    if (ready && wasReady === false) logger?.info('ready again: the database answers');
    wasReady = ready;
    if (!ready) throw new ProblemError('service-unavailable', `Not ready: ${unready}.`, { headers: { 'Retry-After': '1' } });
    ctx.body = sources
      ? {
          status: 'ready',
          checks: {
            database: 'ok',
            statements: sendsNamedStatements(sources.db) ? 'named' : 'unnamed',
            notifications: sources.listener.health.state,
          },
        }
      : { status: 'ready' };
  });

  let spec: Promise<string> | undefined;
  router.get('/openapi.yaml', async (ctx) => {
    spec ??= readFile(OPENAPI_PATH, 'utf8');
    ctx.type = 'application/yaml';
    ctx.body = await spec;
  });

  return router;
}

const TOO_LATE = Symbol('too late');

/** `work`, or TOO_LATE when it has not settled within `ms` (it goes on; a later rejection is handled by the race). */
async function within<T>(work: Promise<T>, ms: number): Promise<T | typeof TOO_LATE> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof TOO_LATE>((resolve) => (timer = setTimeout(() => resolve(TOO_LATE), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
