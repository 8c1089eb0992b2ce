// The shipping example over a test database, with the fake provider, in this process; workers
// made on demand, and worker processes for crash tests.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createShippingApp } from '../../examples/shipping/app.ts';
import { startShippingProvider, type RunningProvider } from '../../examples/shipping/provider-server.ts';
import type { ContextEngine, Worker, WorkerOptions } from '../../src/index.ts';
import { phaseKey } from '../../src/phases/keys.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { drainJobs } from '../helpers/payments.ts';
import { send, type Reply } from '../helpers/server.ts';

export const API_KEY = 'shipping-test-key-0123456789';

export interface ShippingRig {
  database: TestDatabase;
  provider: RunningProvider;
  engine: ContextEngine;
  base: string;
  tenantId: string;
  request(method: string, path: string, options?: { headers?: Record<string, string>; body?: unknown }): Promise<Reply>;
  /** PUT a new context with ship-order; resolves its id once answered 202. */
  ship(orderId: string, address?: string): Promise<string>;
  worker(options?: Partial<Omit<WorkerOptions, 'db' | 'actions'>>): Worker;
  drain(workers: Worker[], timeoutMs?: number): Promise<void>;
  /** A worker process that kills itself at `failpoint`; resolves with the signal it died of. */
  crashWorker(failpoint: string, timeoutMs?: number): Promise<NodeJS.Signals | null>;
  /** The shipment the provider holds for a context's create-shipment key. */
  shipmentOf(contextId: string): { id: string; orderId: string } | undefined;
  close(): Promise<void>;
}

export async function startShippingRig(): Promise<ShippingRig> {
  const database = await createTestDatabase();
  const provider = await startShippingProvider({ faults: { hangMs: 400 } });
  const logger = pino({ level: 'silent' });
  const { app, engine, tenantId } = await createShippingApp({ pool: database.pool, providerUrl: provider.url, apiKey: API_KEY, logger });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let made = 0;
  const rig: ShippingRig = {
    database,
    provider,
    engine,
    base,
    tenantId,
    request: (method, path, options = {}) => send(base, method, path, { ...options, key: API_KEY }),
    async ship(orderId, address = '1 Harbour Road, Kiel') {
      const id = crypto.randomUUID();
      const reply = await rig.request('PUT', `/contexts/${id}`, { headers: { 'if-none-match': '*' }, body: { action: { type: 'ship-order', orderId, address } } });
      if (reply.status !== 202) throw new Error(`ship-order not accepted: ${reply.status} ${reply.text}`);
      return id;
    },
    worker: (options = {}) =>
      engine.createWorker({ workerId: `shipping-worker-${++made}`, logger, leaseSeconds: 2, backoffBaseMs: 5, backoffCapMs: 100, maxAttempts: 100, pollMs: 10, ...options }),
    drain: (workers, timeoutMs) => drainJobs(database.db, workers, timeoutMs),
    crashWorker(failpoint, timeoutMs = 15_000) {
      const child = spawn(process.execPath, ['--import=tsx', 'examples/shipping/worker.ts'], {
        env: { ...process.env, DATABASE_URL: database.url, SHIPPING_PROVIDER_URL: provider.url, WORKER_LEASE_SECONDS: '1', LOG_LEVEL: 'silent', FAILPOINT: failpoint },
        stdio: 'ignore',
      });
      return new Promise((resolve) => {
        const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
        child.on('exit', (_code, signal) => {
          clearTimeout(timer);
          resolve(signal);
        });
      });
    },
    shipmentOf: (contextId) => provider.shipments.get(phaseKey({ tenantId, contextId }, 'create-shipment')),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await engine.close();
      await provider.close();
      await database.drop();
    },
  };
  return rig;
}
