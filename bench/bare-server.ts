// The baseline: Koa and pg, nothing of ours. It answers the benchmarked requests by sending the
// same statements as the service (bench/sql.ts) with the least logic that can produce a
// plausible answer: no validation, no problem documents, no HAL, no fingerprints, no retries.
// Run: PORT=… DATABASE_URL=… node --import tsx bench/bare-server.ts
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import Koa, { type Context } from 'koa';
import type pg from 'pg';
import { pool, postLegs, run, tenantOfAuthorization, transaction, type Row } from './baseline-db.ts';
import { SQL } from './sql.ts';

async function readBody(ctx: Context): Promise<{ action?: Record<string, unknown> }> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { action?: Record<string, unknown> });
}

/** Moves money between the accounts of a transfer or into a deposit's account; returns the entries. */
async function move(client: pg.PoolClient, tenant: string, context: string, action: Record<string, unknown>): Promise<Row[]> {
  const amount = action['amount'] as number;
  return postLegs(client, tenant, context, action['type'] === 'deposit' ? [[action['account'], amount]] : [[action['from'], -amount], [action['to'], amount]]);
}

/** Executes the action on a context row this transaction holds, records it and queues its event. */
async function executeOn(client: pg.PoolClient, tenant: string, row: Row, action: Record<string, unknown>): Promise<string> {
  const context = row['id'] as string;
  const entries = await move(client, tenant, context, action);
  const version = Number(row['version']) + 1;
  const result = { entries };
  const body = JSON.stringify({ id: context, state: 'succeeded', version, action, result });
  await run(client, SQL.recordExecution, [
    'succeeded', version, JSON.stringify(action), 'bare', JSON.stringify(result), null, 200, body, tenant, context, row['version'],
    `msg_${randomUUID()}`, 'context.succeeded', `{"type":"context.succeeded","data":${body}}`,
  ]);
  return body;
}

function send(ctx: Context, status: number, body: string, etag?: string): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = body;
  if (etag) ctx.set('ETag', etag);
}

async function putContext(ctx: Context, tenant: string, id: string): Promise<void> {
  const { action = {} } = await readBody(ctx);
  const [found] = await run(pool, SQL.findContext, [tenant, id]);
  if (found && found['state'] !== 'open') return send(ctx, 200, found['response_body'] as string, `"${found['version']}"`);
  if (!found && ctx.get('If-None-Match') === '*') {
    const body = await transaction(async (client) => {
      const [created] = await run(client, SQL.insertContext, [tenant, id, null, 86_400]);
      if (!created) throw new Error('the context exists');
      return executeOn(client, tenant, created, action);
    });
    return send(ctx, 201, body, '"2"');
  }
  if (!found || ctx.get('If-Match') !== `"${found['version']}"`) return send(ctx, 412, '{}');
  const body = await transaction(async (client) => {
    const [locked] = await run(client, SQL.lockContext, [tenant, id]);
    if (!locked || locked['version'] !== found['version']) throw new Error('the context changed');
    return executeOn(client, tenant, locked, action);
  });
  send(ctx, 200, body, `"${Number(found['version']) + 1}"`);
}

async function postContext(ctx: Context, tenant: string): Promise<void> {
  const [created] = await transaction((client) => run(client, SQL.insertContext, [tenant, randomUUID(), null, 86_400]));
  if (!created) throw new Error('a fresh UUID collided');
  ctx.set('Location', `/contexts/${created['id'] as string}`);
  send(ctx, 201, JSON.stringify(created), `"${created['version']}"`);
}

/** The deposit with no idempotency at all: the baseline of the keyed-POST comparison. */
async function postDeposit(ctx: Context, tenant: string): Promise<void> {
  const { action = {} } = await readBody(ctx);
  const entries = await transaction(async (client) => {
    const [created] = await run(client, SQL.insertContext, [tenant, randomUUID(), null, 86_400]);
    return move(client, tenant, created?.['id'] as string, action);
  });
  send(ctx, 201, JSON.stringify({ entries }));
}

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.path === '/healthz') return send(ctx, 200, '{}');
  const tenant = await tenantOfAuthorization(ctx.get('Authorization'));
  if (!tenant) return send(ctx, 401, '{}');
  const id = /^\/contexts\/([0-9a-f-]{36})$/.exec(ctx.path)?.[1];
  if (id && ctx.method === 'PUT') return putContext(ctx, tenant, id);
  if (id && ctx.method === 'GET') {
    const [found] = await run(pool, SQL.findContext, [tenant, id]);
    if (!found) return send(ctx, 404, '{}');
    const etag = `"${found['version']}"`;
    if (ctx.get('If-None-Match') === etag) {
      ctx.status = 304;
      ctx.set('ETag', etag);
      return;
    }
    return send(ctx, 200, (found['response_body'] as string | null) ?? JSON.stringify(found), etag);
  }
  if (ctx.path === '/contexts' && ctx.method === 'GET') {
    const rows = await run(pool, SQL.listContexts, [tenant, 21]);
    return send(ctx, 200, JSON.stringify({ count: Math.min(rows.length, 20), contexts: rows.slice(0, 20) }));
  }
  if (ctx.path === '/contexts' && ctx.method === 'POST') return postContext(ctx, tenant);
  if (ctx.path === '/deposits' && ctx.method === 'POST') return postDeposit(ctx, tenant);
  send(ctx, 404, '{}');
});

const server = http.createServer(app.callback());
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => void pool.end().then(() => process.exit(0)));
});
