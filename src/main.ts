// Starts one role of the service:
//   api        the HTTP API
//   worker     runs the phases of asynchronous actions (card payments), delivers webhooks; run several
//   processor  the bundled card-processor simulator
//   all        all three in one process: the development mode behind `npm start`
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { createApp, defaultActions } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { ContextChangeListener } from './contexts/change-listener.ts';
import { createDatabase, createPool } from './db/database.ts';
import type { EmbeddedServer } from './db/embedded.ts';
import { migrate } from './db/migrate.ts';
import { ServiceMetrics } from './http/metrics.ts';
import { LOG_REDACT_PATHS } from './http/request-log.ts';
import { createHttpServer } from './http/server.ts';
import { ProcessorClient } from './payments/processor-client.ts';
import { FaultConfigError, loadFaultConfig } from './processor/faults.ts';
import { startProcessor } from './processor/server.ts';
import { ensureDevAdminToken, ensureDevTenant } from './tenants/dev-tenant.ts';
import { OperationsJournal } from './operations/journal.ts';
import { journalPhases } from './operations/phase-events.ts';
import { runOperationsSampler } from './operations/sampler.ts';
import { runWebhookDeliverer } from './webhooks/deliverer.ts';
import { DEFAULT_PROCESSOR_URL } from './payments/action.ts';
import { PROCESSOR_URL_FILE } from './processor/url-file.ts';
import { JobNotifier } from './phases/job-notifier.ts';
import { Worker } from './phases/worker.ts';
import { runKeySweeper } from './idempotency/sweeper.ts';
import { startServiceTracing, TracingUnavailableError } from './telemetry/start.ts';

const ROLES = ['api', 'worker', 'processor', 'all'] as const;
type Role = (typeof ROLES)[number];

function parseRole(argument: string | undefined): Role {
  const role = ROLES.find((candidate) => candidate === (argument ?? 'all'));
  if (!role) {
    console.error(`Unknown role "${argument}". Use one of: ${ROLES.join(', ')}.`);
    process.exit(2);
  }
  return role;
}

function loadOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof FaultConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

async function databaseUrl(config: Config, log: pino.Logger): Promise<{ url: string; embedded?: EmbeddedServer }> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const dataDir = path.join(config.dataDir, 'postgres');
  log.info({ dataDir, port: config.embeddedPostgresPort }, 'DATABASE_URL is not set: starting an embedded PostgreSQL');
  await new Promise<void>((resolve) => {
    // Postgres would fail on a taken port with a page of log; say it in one line instead.
    const probe = createServer();
    probe.once('error', (error) => {
      exitOnTakenPort(error, config.embeddedPostgresPort, '127.0.0.1', 'EMBEDDED_POSTGRES_PORT', false);
      resolve();
    });
    probe.listen(config.embeddedPostgresPort, '127.0.0.1', () => probe.close(() => resolve()));
  });
  // Loaded only here: a deployment with DATABASE_URL never needs the embedded-postgres package.
  const { startEmbeddedPostgres } = await import('./db/embedded.ts');
  const embedded = await startEmbeddedPostgres({ dataDir, port: config.embeddedPostgresPort, persistent: true });
  return { url: embedded.url, embedded };
}

/** Listens, or ends the process with one line that names the port and the variable that moves it. */
async function listenOrExit(server: Server, port: number, host: string): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    exitOnTakenPort(error, port, host, 'PORT');
    throw error;
  }
}

function exitOnTakenPort(error: unknown, port: number, host: string, variable: string, anyFree = true): void {
  const code = (error as { code?: unknown }).code;
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    console.error(`Port ${port} on ${host} is ${code === 'EADDRINUSE' ? 'taken' : 'not allowed'}: set ${variable} to another port${anyFree ? ' (0 for any free one)' : ''}.`);
    process.exit(1);
  }
}

function displayUrl(host: string, port: number): string {
  return `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host}:${port}`;
}

async function main(): Promise<void> {
  const role = parseRole(process.argv[2]);
  const config = loadOrExit(loadConfig);
  const faults = role === 'processor' || role === 'all' ? loadOrExit(() => loadFaultConfig()) : undefined;
  // Lines are written in 4 KiB batches, and at least every 250 ms: a write(2) per request cost
  // about 5 % of the API's CPU under load (bench/). Shutdown and crashes flush what is left.
  const logDestination = pino.destination({ dest: 1, minLength: 4096, sync: false });
  const flushLogs = setInterval(() => logDestination.flush(), 250);
  flushLogs.unref();
  process.once('exit', () => {
    try {
      logDestination.flushSync();
    } catch {
      // not open yet: nothing was written
    }
  });
  const log = pino({ level: config.logLevel, redact: LOG_REDACT_PATHS }, logDestination);
  // Off unless OTEL_TRACES_EXPORTER names an exporter: only then is the SDK loaded (docs/tracing.md).
  const tracing = await startServiceTracing(config.tracing, `idempotence-${role === 'all' ? 'service' : role}`, log).catch((error: unknown) => {
    if (!(error instanceof TracingUnavailableError)) throw error;
    console.error(error.message);
    process.exit(1);
  });
  const { url, embedded } = await databaseUrl(config, log);
  const pool = createPool(url, config.databasePoolSize, config.databaseTimeouts);
  const db = createDatabase(pool, {
    preparedStatements: config.databasePreparedStatements,
    onNamedStatementsLost: (error) =>
      log.warn(
        { err: error },
        'a server connection lost or doubled a named statement: a connection pooler in transaction mode is in between; every statement is sent unnamed from now on (DATABASE_PREPARED_STATEMENTS=false starts so)',
      ),
  });
  const development = config.nodeEnv !== 'production';
  if (development || role === 'all') {
    const applied = await migrate(pool);
    if (applied.length > 0) log.info({ applied }, 'migrations applied');
  }
  // Development without ADMIN_TOKEN: one is made (and kept in DATA_DIR) so the console works at once.
  const adminToken = config.adminToken ?? (development && (role === 'api' || role === 'all') ? await ensureDevAdminToken(config.dataDir) : undefined);
  // This process's timeline events (requests, phases), written in batches; flushed at shutdown.
  const journal = new OperationsJournal({ db, logger: log.child({ role: 'journal' }) });

  // GET /metrics of the API. In role `all` the worker and the deliverer of this process count into
  // it too (lease takeovers, failed webhook attempts); a `worker` process exports nothing, and
  // the gauges read from the database on scrape (worker lag, failing deliveries) cover it.
  const metrics = role === 'api' || role === 'all' ? new ServiceMetrics({ pool, db, logger: log }) : undefined;

  const stops: (() => Promise<void>)[] = [];
  let processorUrl = config.processorUrl;
  if (role === 'processor' || role === 'all') {
    // In `all` the simulator is this process's own: any free port (a taken 3001 is common).
    const processorPort = config.processorPort ?? (role === 'all' ? 0 : 3001);
    const processor = await startProcessor({
      pool,
      port: processorPort,
      host: config.host,
      ...(faults ? { faults } : {}),
      logger: log.child({ role: 'processor' }),
    }).catch((error: unknown) => {
      exitOnTakenPort(error, processorPort, config.host, 'PROCESSOR_PORT');
      throw error;
    });
    processorUrl ??= processor.url;
    if (role === 'all') {
      // `npm run reconcile` beside `npm start` finds the simulator's port, which is any free one, here.
      await mkdir(config.dataDir, { recursive: true });
      await writeFile(path.join(config.dataDir, PROCESSOR_URL_FILE), `${processor.url}\n`);
    }
    stops.push(() => processor.close());
    log.info({ url: processor.url }, 'card processor simulator listening');
  }

  if (role === 'worker' || role === 'all') {
    const processor = new ProcessorClient({ baseUrl: processorUrl ?? DEFAULT_PROCESSOR_URL, timeoutMs: config.processorTimeoutMs });
    // Idle workers sleep until a job is due (LISTEN, past any pooler with DATABASE_LISTEN_URL), polling once a second as the fallback.
    const notifier = JobNotifier.forPool(pool, log.child({ role: 'worker' }), config.databaseListenUrl);
    metrics?.watchListener(() => notifier.health);
    const worker = new Worker({
      db,
      notifier,
      actions: defaultActions({ processor }),
      logger: log.child({ role: 'worker' }),
      leaseSeconds: config.workerLeaseSeconds,
      maxAttempts: config.workerMaxAttempts,
      concurrency: config.workerConcurrency,
      ...(metrics ? { onLeaseTakeover: () => metrics.leaseTakeovers.inc() } : {}),
      ...(process.env['FAILPOINT'] ? { crashAt: process.env['FAILPOINT'] } : {}),
      observePhase: journalPhases(journal),
    });
    const abort = new AbortController();
    const running = Promise.all([
      worker.run(abort.signal),
      runWebhookDeliverer(db, {
        signal: abort.signal,
        logger: log.child({ role: 'webhooks' }),
        workerId: worker.id,
        ...(metrics ? { onFailure: () => metrics.webhookDeliveryFailures.inc() } : {}),
      }),
      runKeySweeper(db, { signal: abort.signal, logger: log.child({ role: 'sweeper' }) }),
      runOperationsSampler(db, { signal: abort.signal, logger: log.child({ role: 'sampler' }), retentionDays: config.operationsRetentionDays }),
    ]);
    // Graceful: the job in hand is finished before the process exits.
    stops.push(async () => {
      abort.abort();
      await running;
      await notifier.close();
    });
    log.info({ worker: worker.id, processor: processorUrl }, 'worker running');
  }

  if (role === 'api' || role === 'all') {
    const listener = ContextChangeListener.forPool(pool, log, config.databaseListenUrl);
    await listener.start(); // listening before the first request, and /readyz can tell
    // onTerminalState stays the default: the webhook outbox, fused with the recording statement.
    // The payment action with a processor client: the admin API's reconcile asks the processor.
    const actions = defaultActions({ processor: new ProcessorClient({ baseUrl: processorUrl ?? DEFAULT_PROCESSOR_URL, timeoutMs: config.processorTimeoutMs }) });
    const app = createApp({ pool, db, config: { ...config, adminToken }, logger: log, listener, actions, journal, ...(metrics ? { metrics } : {}) });
    // Header size, slow-client timeouts and keep-alive: see HTTP_SERVER_DEFAULTS in src/http/server.ts.
    const server = createHttpServer(app, { logger: log });
    await listenOrExit(server, config.port, config.host);
    const address = server.address();
    const base = displayUrl(config.host, typeof address === 'object' && address ? address.port : config.port);
    log.info({ url: base, role }, 'listening');
    stops.push(async () => {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await listener.close();
    });
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
          ...(adminToken && !config.adminToken
            ? [`  Operator console: ${base}/console#token=${adminToken}`, `  Admin token (ADMIN_TOKEN, made for development): ${adminToken}`]
            : [`  Operator console: ${base}/console (sign in with ADMIN_TOKEN)`]),
          '',
        ].join('\n') + '\n',
      );
    }
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    for (const stop of stops.reverse()) await stop().catch((error: unknown) => log.error({ err: error }, 'stop failed'));
    await journal.close();
    await db.destroy();
    await embedded?.stop();
    // Last: the spans of everything above are sent before the process ends.
    await tracing?.shutdown().catch((error: unknown) => log.error({ err: error }, 'tracing shutdown failed'));
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
