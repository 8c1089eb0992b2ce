// The peer: what a Node team would write today — Express, the express-idempotency middleware
// with its Redis adapter, and a handler that runs the deposit transaction (the same statements
// as the bare server's /deposits, bench/sql.ts). POST /deposits is the handler alone (the
// no-idempotency baseline), POST /keyed/deposits the same handler behind the middleware.
// Run: PORT=… DATABASE_URL=… REDIS_URL=… node dist/bench/peer-server.js
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import express, { type Request, type Response } from 'express';
import { pool, postLegs, run, tenantOfAuthorization, transaction, type Row } from './baseline-db.ts';
import { SQL } from './sql.ts';

interface IdempotencyService {
  isHit(req: Request): boolean;
  reportError(req: Request): Promise<void>;
}
interface IdempotencyModule {
  idempotency(options: { dataAdapter: unknown }): express.RequestHandler;
  getSharedIdempotencyService(): IdempotencyService;
}
interface RedisAdapterClass {
  new (options: { connectionConfig: { url: string } }): { connect(): Promise<void>; disconnect(): Promise<void> };
}

// Both packages are CommonJS; the adapter's class is its `default` export.
const require = createRequire(import.meta.url);
const idempotencyModule = require('express-idempotency') as IdempotencyModule;
const RedisAdapter = (require('express-idempotency-redis-adapter') as { default: RedisAdapterClass }).default;

/** The deposit transaction of bench/sql.ts REQUEST_STATEMENTS.plainDeposit. */
async function deposit(tenant: string, account: string, amount: number): Promise<Row[]> {
  return transaction(async (client) => {
    const [context] = await run(client, SQL.insertContext, [tenant, randomUUID(), null, 86_400]);
    return postLegs(client, tenant, context?.['id'], [[account, amount]]);
  });
}

const adapter = new RedisAdapter({ connectionConfig: { url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379' } });
await adapter.connect();

const app = express();
app.use(express.json());
app.get('/healthz', (_req, res) => void res.json({}));

async function handle(req: Request, res: Response, keyed: boolean): Promise<void> {
  // The middleware answered a duplicate itself (a replay, or an error it passed on).
  if (keyed && idempotencyModule.getSharedIdempotencyService().isHit(req)) return;
  try {
    const tenant = await tenantOfAuthorization(req.get('authorization'));
    if (!tenant) {
      res.status(401).json({});
      return;
    }
    const action = (req.body as { action: { account: string; amount: number } }).action;
    res.status(201).json({ entries: await deposit(tenant, action.account, action.amount) });
  } catch {
    if (keyed) await idempotencyModule.getSharedIdempotencyService().reportError(req);
    res.status(500).json({});
  }
}

app.post('/deposits', (req, res) => void handle(req, res, false));
app.post('/keyed/deposits', idempotencyModule.idempotency({ dataAdapter: adapter }), (req, res) => void handle(req, res, true));
// What the middleware passes on with next(error): a 409 while the first request is in progress,
// a 417 for another body under the same key. Express's default handler would answer HTML.
app.use((error: Error, _req: Request, res: Response, _next: express.NextFunction) => {
  if (!res.headersSent) res.status(res.statusCode >= 400 ? res.statusCode : 500).json({ error: error.message });
});

const server = app.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1');
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => void Promise.all([pool.end(), adapter.disconnect()]).then(() => process.exit(0)));
});
