// Runs the simulated processor as its own HTTP server (role `processor`).
import http from 'node:http';
import type pg from 'pg';
import { pino, type Logger } from 'pino';
import { createPool } from '../db/database.ts';
import { createProcessorApp } from './app.ts';
import { defaultFaultConfig, type FaultConfig } from './faults.ts';
import { ensureProcessorSchema } from './schema.ts';

export type ProcessorServerOptions = ({ databaseUrl: string } | { pool: pg.Pool }) & {
  /** 0 picks a free port; the returned url has the real one. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: every fault off. Pass loadFaultConfig() to take them from the environment. */
  faults?: FaultConfig;
  logger?: Logger;
  random?: () => number;
};

export interface RunningProcessor {
  url: string;
  close(): Promise<void>;
  /** The live fault configuration: changing it affects the next request. */
  faults: FaultConfig;
}

const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

export async function startProcessor(options: ProcessorServerOptions): Promise<RunningProcessor> {
  const ownPool = 'databaseUrl' in options ? createPool(options.databaseUrl) : undefined;
  const pool = 'pool' in options ? options.pool : ownPool;
  if (!pool) throw new Error('startProcessor needs a databaseUrl or a pool');
  const faults = options.faults ?? defaultFaultConfig();
  const logger = options.logger ?? pino({ level: 'silent' });
  const host = options.host ?? '127.0.0.1';
  // An idle connection dropped by the server (restart, failover) must not crash the process; the
  // pool replaces it on the next checkout.
  ownPool?.on('error', (error) => logger.warn({ err: error }, 'processor database connection lost'));

  try {
    await ensureProcessorSchema(pool);
  } catch (error) {
    await ownPool?.end();
    throw error;
  }
  const app = createProcessorApp({ pool, faults, logger, ...(options.random ? { random: options.random } : {}) });
  const handle = app.callback();
  // Requests still being handled; close() waits for them so nothing touches a pool that ended.
  const inFlight = new Set<Promise<void>>();
  const server = http.createServer((req, res) => {
    const handling = handle(req, res).finally(() => inFlight.delete(handling));
    inFlight.add(handling);
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await ownPool?.end();
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const urlHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  logger.info({ url }, 'processor listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    faults,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Open requests are cut off (a hang ends with its socket); their handlers still finish.
        server.closeAllConnections();
        await closed;
        await Promise.allSettled([...inFlight]);
        await ownPool?.end();
      })();
      return closing;
    },
  };
}
