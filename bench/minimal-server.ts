// The physical-limit baseline: node:http and pg, nothing else, and for each benchmarked request
// the fewest statements that still keep that request's guarantee — written for this bench, on the
// service's own tables. What ours costs beyond it is what our design and our code cost.
// Run: PORT=… DATABASE_URL=… node dist/bench/minimal-server.js
import http from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env['DATABASE_URL'], max: Number(process.env['DATABASE_POOL_SIZE'] ?? 10) });
pool.on('error', () => undefined);

// Named statements: parsed and planned once per connection, as the service's are.
const READ = {
  name: 'min_read',
  // GET and the 304: one indexed read by the primary key; the version is the strong validator.
  text: 'SELECT version, response_body FROM contexts WHERE tenant_id = $1 AND id = $2',
};
const ONE_SHOT_TRANSFER = {
  name: 'min_transfer',
  // Exactly once: the context's primary key admits one insert per id (ON CONFLICT DO NOTHING), and
  // the legs, the entries and the recorded answer are in that same statement, so they happen with
  // it or not at all. No money is created: balances move with their entries, checked by the
  // balance constraint (a refused transfer aborts the whole statement). A replay is answered from
  // the row as it was before this statement (the scalar subquery's snapshot).
  text: `WITH created AS (
           INSERT INTO contexts (tenant_id, id, state, version, action, fingerprint, response_status, response_body, updated_at, expires_at)
           VALUES ($1, $2, 'succeeded', 2, $3::jsonb, $4, 201, $5, now(), now() + interval '1 day')
           ON CONFLICT (tenant_id, id) DO NOTHING RETURNING id),
         legs AS (SELECT * FROM unnest($6::uuid[], $7::bigint[]) AS l(account_id, amount)),
         moved AS (UPDATE accounts a SET balance = a.balance + legs.amount, version = a.version + 1, updated_at = now()
                     FROM legs, created WHERE a.tenant_id = $1 AND a.id = legs.account_id
                   RETURNING a.id, a.balance, legs.amount),
         posted AS (INSERT INTO entries (tenant_id, account_id, context_id, amount, balance_after)
                    SELECT $1, id, $2, amount, balance FROM moved RETURNING id)
       SELECT (SELECT count(*) FROM created)::int AS created,
              (SELECT response_body FROM contexts WHERE tenant_id = $1 AND id = $2) AS recorded`,
};
const DEPOSIT = {
  name: 'min_deposit',
  // The keyed POST's baseline: the same deposit with no idempotency at all. The entry names a
  // context (its foreign key), so the statement writes one, final at once; the balance and the
  // entry move together, and the balance constraint refuses an overflow.
  text: `WITH created AS (
           INSERT INTO contexts (tenant_id, id, state, version, action, fingerprint, response_status, response_body, updated_at, expires_at)
           VALUES ($1, $2, 'succeeded', 2, $3::jsonb, 'none', 201, '{}', now(), now() + interval '1 day') RETURNING id),
         moved AS (UPDATE accounts a SET balance = a.balance + $5, version = a.version + 1, updated_at = now()
                     FROM created WHERE a.tenant_id = $1 AND a.id = $4 RETURNING a.id, a.balance)
       INSERT INTO entries (tenant_id, account_id, context_id, amount, balance_after)
       SELECT $1, id, $2, $5, balance FROM moved RETURNING id, balance_after`,
};
const AUTHENTICATE = { name: 'min_auth', text: 'SELECT id FROM tenants WHERE api_key_hash = $1' };

// The service caches a key it found for 5 s (AUTH_CACHE_TTL_SECONDS); so does this.
const known = new Map<string, { tenant: string; until: number }>();
async function tenantOf(authorization: string | undefined): Promise<string | undefined> {
  const key = /^Bearer (.+)$/.exec(authorization ?? '')?.[1] ?? '';
  const cached = known.get(key);
  if (cached && cached.until > Date.now()) return cached.tenant;
  const { rows } = await pool.query<{ id: string }>({ ...AUTHENTICATE, values: [createHash('sha256').update(key).digest()] });
  const tenant = rows[0]?.id;
  if (tenant) known.set(key, { tenant, until: Date.now() + 5_000 });
  return tenant;
}

function answer(res: http.ServerResponse, status: number, body?: string, etag?: string): void {
  const headers: Record<string, string> = {};
  if (etag) headers['etag'] = etag;
  if (body !== undefined) headers['content-type'] = 'application/json';
  res.writeHead(status, headers);
  res.end(body);
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const DEADLOCK = '40P01';

async function oneShotTransfer(res: http.ServerResponse, tenant: string, id: string, text: string): Promise<void> {
  const action = (JSON.parse(text) as { action: { from: string; to: string; amount: number } }).action;
  const fingerprint = createHash('sha256').update(text).digest('hex');
  const body = JSON.stringify({ id, state: 'succeeded', version: 2, action });
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await pool.query<{ created: number; recorded: string | null }>({
        ...ONE_SHOT_TRANSFER,
        values: [tenant, id, JSON.stringify(action), fingerprint, body, [action.from, action.to], [-action.amount, action.amount]],
      });
      const row = rows[0];
      if (row?.created === 1) return answer(res, 201, body, '"2"');
      return answer(res, 200, row?.recorded ?? body, '"2"');
    } catch (error) {
      // Two transfers between the same accounts may lock them in opposite orders: Postgres aborts
      // one, and the whole statement may simply run again (nothing of it committed).
      if ((error as { code?: string }).code === DEADLOCK && attempt < 5) continue;
      if ((error as { code?: string }).code === '23514') return answer(res, 422, '{"title":"insufficient funds"}');
      throw error;
    }
  }
}

async function deposit(res: http.ServerResponse, tenant: string, text: string): Promise<void> {
  const action = (JSON.parse(text) as { action: { account: string; amount: number } }).action;
  const id = randomUUID();
  const { rows } = await pool.query<{ id: number; balance_after: number }>({ ...DEPOSIT, values: [tenant, id, JSON.stringify(action), action.account, action.amount] });
  const entry = rows[0];
  if (!entry) return answer(res, 422, '{"title":"unknown account"}');
  answer(res, 201, JSON.stringify({ id, entries: [{ id: entry.id, account: action.account, amount: action.amount, balanceAfter: entry.balance_after }] }));
}

const server = http.createServer((req, res) => {
  void (async () => {
    const url = req.url ?? '/';
    if (url === '/healthz') return answer(res, 200, '{}');
    const tenant = await tenantOf(req.headers.authorization);
    if (!tenant) return answer(res, 401, '{}');
    if (url === '/deposits' && req.method === 'POST') return deposit(res, tenant, await readBody(req));
    const id = /^\/contexts\/([0-9a-f-]{36})$/.exec(url)?.[1];
    if (!id) return answer(res, 404, '{}');
    if (req.method === 'PUT' && req.headers['if-none-match'] === '*') return oneShotTransfer(res, tenant, id, await readBody(req));
    if (req.method === 'GET') {
      const { rows } = await pool.query<{ version: number; response_body: string | null }>({ ...READ, values: [tenant, id] });
      const row = rows[0];
      if (!row) return answer(res, 404, '{}');
      const etag = `"${row.version}"`;
      if (req.headers['if-none-match'] === etag) return answer(res, 304, undefined, etag);
      return answer(res, 200, row.response_body ?? '{}', etag);
    }
    answer(res, 405, '{}');
  })().catch(() => {
    if (!res.headersSent) answer(res, 503, '{}');
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => void pool.end().then(() => process.exit(0)));
});
