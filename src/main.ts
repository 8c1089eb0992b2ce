// Starts one role of the service. `all` is the development mode behind `npm start`.
import http from 'node:http';
import path from 'node:path';
import { pino } from 'pino';
import { createApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createDatabase, createPool } from './db/database.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from './db/embedded.ts';
import { migrate } from './db/migrate.ts';
import { ensureDevTenant } from './tenants/dev-tenant.ts';

const ROLES = ['api', 'all'] as const;
type Role = (typeof ROLES)[number];

// Slow or silent clients must not hold sockets forever.
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

function parseRole(argument: string | undefined): Role {
  const role = ROLES.find((candidate) => candidate === (argument ?? 'all'));
  if (!role) {
    console.error(`Unknown role "${argument}". Use one of: ${ROLES.join(', ')}.`);
    process.exit(2);
  }
  return role;
}

async function databaseUrl(config: Config, log: pino.Logger): Promise<{ url: string; embedded?: EmbeddedServer }> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const dataDir = path.join(config.dataDir, 'postgres');
  log.info({ dataDir, port: config.embeddedPostgresPort }, 'DATABASE_URL is not set: starting an embedded PostgreSQL');
  const embedded = await startEmbeddedPostgres({ dataDir, port: config.embeddedPostgresPort, persistent: true });
  return { url: embedded.url, embedded };
}

async function main(): Promise<void> {
  const role = parseRole(process.argv[2]);
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const log = pino({ level: config.logLevel, redact: ['req.headers.authorization', 'apiKey'] });
  const { url, embedded } = await databaseUrl(config, log);
  const pool = createPool(url, config.databasePoolSize);
  const db = createDatabase(pool);

  const development = config.nodeEnv !== 'production';
  if (development || role === 'all') {
    const applied = await migrate(pool);
    if (applied.length > 0) log.info({ applied }, 'migrations applied');
  }

  const app = createApp({ pool, db, config, logger: log });
  const server = http.createServer(app.callback());
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const base = `http://${host}:${port}`;
  log.info({ url: base, role }, 'listening');

  if (development) {
    const key = await ensureDevTenant(db, config.dataDir, config.devApiKey);
    process.stdout.write(
      [
        '',
        `  Idempotence service listening on ${base}`,
        `  Dev API key (tenant "dev"): ${key}`,
        '  Try:',
        `    curl -s -X POST ${base}/accounts -H 'Authorization: Bearer ${key}' \\`,
        `      -H 'Content-Type: application/json' -d '{"name":"Alice","currency":"EUR"}'`,
        '',
      ].join('\n') + '\n',
    );
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await db.destroy();
    await embedded?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
