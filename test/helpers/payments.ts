// A payment rig: the API over a test database, the processor simulator on the same database
// (its own schema), and workers made on demand.
import { pino } from 'pino';
import { ProcessorClient } from '../../src/payments/processor-client.ts';
import { startProcessor, type RunningProcessor } from '../../src/processor/server.ts';
import { webhookEventHook } from '../../src/webhooks/hook.ts';
import { Worker, type WorkerOptions } from '../../src/worker/worker.ts';
import { startTestServer, type TestServer } from './server.ts';

export const CLIENT_TIMEOUT_MS = 300;

export interface PaymentRig {
  server: TestServer;
  processor: RunningProcessor;
  client: ProcessorClient;
  worker(options?: Partial<WorkerOptions>): Worker;
  /** Runs the workers until no context is processing and due, or the time is up. */
  drain(workers: Worker[], timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startPaymentRig(): Promise<PaymentRig> {
  const server = await startTestServer();
  const processor = await startProcessor({ pool: server.database.pool, port: 0 });
  processor.faults.hangMs = 2 * CLIENT_TIMEOUT_MS;
  const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: CLIENT_TIMEOUT_MS });
  let made = 0;
  const rig: PaymentRig = {
    server,
    processor,
    client,
    worker: (options = {}) =>
      new Worker({
        db: server.database.db,
        processor: client,
        onTerminalState: webhookEventHook,
        logger: pino({ level: 'silent' }),
        workerId: `test-worker-${++made}`,
        leaseSeconds: 2,
        backoffBaseMs: 5,
        backoffCapMs: 100,
        maxAttempts: 100,
        pollMs: 10,
        ...options,
      }),
    async drain(workers, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await server.database.pool.query(
          "SELECT count(*)::int AS n FROM contexts WHERE state = 'processing' AND run_after IS NOT NULL",
        );
        if (rows[0].n === 0) return;
        if (Date.now() > deadline) throw new Error(`${rows[0].n} payments still processing after ${timeoutMs} ms`);
        const outcomes = await Promise.all(workers.map((worker) => worker.runOnce()));
        if (outcomes.every((outcome) => outcome === undefined)) await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close() {
      await processor.close();
      await server.close();
    },
  };
  return rig;
}

/**
 * One payment rig for the whole test file, with a worker running in the background (as in
 * `npm start`), so payments complete while the tests talk to the API.
 */
export function withPaymentRig(registerHooks: { before(fn: () => Promise<void>): void; after: { always(fn: () => Promise<void>): void } }): () => PaymentRig {
  let rig: PaymentRig | undefined;
  const stopWorker = new AbortController();
  let worker: Promise<void> | undefined;
  registerHooks.before(async () => {
    rig = await startPaymentRig();
    worker = rig.worker().run(stopWorker.signal);
  });
  registerHooks.after.always(async () => {
    stopWorker.abort();
    await worker;
    await rig?.close();
  });
  return () => {
    if (!rig) throw new Error('the payment rig is not started yet (use it inside a test)');
    return rig;
  };
}
