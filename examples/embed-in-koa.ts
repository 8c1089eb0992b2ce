// Another Koa service that mounts the context engine beside its own routes, authenticates with
// its own session cookie, and registers an action of its own next to a built-in one.
//   DATABASE_URL=postgres://… npx tsx examples/embed-in-koa.ts
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import Koa from 'koa';
import { sql } from 'kysely';
import type pg from 'pg';
import { ActionRegistry, createContextEngine, createPool, createTenant, defineAction, depositAction, type ContextEngine } from '../src/index.ts';

/** Synchronous: greets, and keeps the greeting in this service's own table, in the engine's transaction. */
export const greetAction = defineAction<{ type: 'greet'; name: string }>({
  type: 'greet',
  schema: {
    type: 'object',
    required: ['type', 'name'],
    properties: { type: { const: 'greet' }, name: { type: 'string', minLength: 1, maxLength: 100 } },
    additionalProperties: false,
  },
  async execute(trx, scope, action) {
    const { rows } = await sql<{ id: number }>`INSERT INTO greetings (tenant_id, context_id, name)
      VALUES (${scope.tenantId}, ${scope.contextId}, ${action.name}) RETURNING id`.execute(trx);
    return { state: 'succeeded', result: { greeting: `Hello, ${action.name}!`, number: rows[0]?.id } };
  },
});

/** The application, not listening. `sessions` maps this service's session cookies to tenant ids. */
export async function createShopApp(pool: pg.Pool, sessions: Map<string, string>): Promise<{ app: Koa; engine: ContextEngine }> {
  const engine = createContextEngine({
    pool,
    actions: new ActionRegistry().register(greetAction).register(depositAction),
    authenticate: async (ctx) => {
      const tenant = sessions.get(ctx.cookies.get('session') ?? '');
      return tenant === undefined ? undefined : { id: tenant };
    },
    // What a 401 names in WWW-Authenticate (RFC 9110 §11.6.1): this service's own scheme.
    challenge: 'Cookie name="session"',
  });
  await engine.migrate();
  await sql`CREATE TABLE IF NOT EXISTS greetings (id serial PRIMARY KEY, tenant_id uuid NOT NULL,
    context_id uuid NOT NULL, name text NOT NULL)`.execute(engine.db);

  const own = new Router().get('/greetings', async (ctx) => {
    const tenant = sessions.get(ctx.cookies.get('session') ?? '');
    if (tenant === undefined) return ctx.throw(401);
    ctx.body = (await sql`SELECT name FROM greetings WHERE tenant_id = ${tenant} ORDER BY id`.execute(engine.db)).rows;
  });
  const app = new Koa();
  app.use(engine.middleware).use(engine.router.routes()).use(engine.router.allowedMethods());
  app.use(own.routes()).use(own.allowedMethods());
  return { app, engine };
}

async function main(): Promise<void> {
  const sessions = new Map<string, string>();
  const { app, engine } = await createShopApp(createPool(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres'), sessions);
  sessions.set('demo', (await createTenant(engine.db, 'shop')).id);
  app.listen(3100, '127.0.0.1', () => console.log(`curl -X PUT http://127.0.0.1:3100/contexts/$(node -p 'crypto.randomUUID()') \\
  -b session=demo -H 'If-None-Match: *' -H 'Content-Type: application/json' -d '{"action":{"type":"greet","name":"Ada"}}'`));
}
if (process.argv[1] === fileURLToPath(import.meta.url)) main().catch((error: unknown) => (console.error(error), process.exit(1)));
