import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { ContextChangeListener } from '../contexts/change-listener.ts';
import { sendsNamedStatements } from '../db/database.ts';
import type { Database } from '../db/schema.ts';
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
}

/** The entry point, health probes and the spec. */
export function metaRoutes(pool: pg.Pool, sources?: ReadinessSources): Router<Partial<AuthState>> {
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

  // Readiness: the database answers and every migration is applied. The checks say more without
  // deciding it: unnamed statements (a pooler was detected) and a LISTEN that hears nothing only
  // cost speed — long-polls then wake on their recheck timer — never a wrong answer.
  router.get('/readyz', async (ctx) => {
    let ready = false;
    try {
      ready = await migrationsApplied(pool);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
    }
    if (!ready) {
      ctx.set('Retry-After', '1');
      throw new ProblemError('service-unavailable', 'The database is unreachable or not fully migrated.', { headers: { 'Retry-After': '1' } });
    }
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
