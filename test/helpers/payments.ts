// A payment rig: the API over a test database, the processor simulator on the same database
// (its own schema), and workers made on demand.
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { defaultActions } from '../../src/app.ts';
import type { Database } from '../../src/db/schema.ts';
import type { PaymentProcessor } from '../../src/payments/action.ts';
import { ProcessorClient } from '../../src/payments/processor-client.ts';
import { Worker, type WorkerOptions } from '../../src/phases/worker.ts';
import { startProcessor, type RunningProcessor } from '../../src/processor/server.ts';
import { startTestServer, type TestServer } from './server.ts';
import { OperationsJournal } from '../../src/operations/journal.ts';
import { journalPhases } from '../../src/operations/phase-events.ts';

export const CLIENT_TIMEOUT_MS = 300;

export type RigWorkerOptions = Partial<Omit<WorkerOptions, 'actions'>> & { processor?: PaymentProcessor };

export interface PaymentRig {
  server: TestServer;
  processor: RunningProcessor;
  client: ProcessorClient;
  worker(options?: RigWorkerOptions): Worker;
  /** Where the rig's workers record their phases (the console's timelines), as a service's worker does. */
  journal: OperationsJournal;
  /** Runs the workers until no context is processing and due, or the time is up. */
  drain(workers: Worker[], timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Runs the workers' runOnce until no processing context is due (parked ones are not), or the time is up. */
export async function drainJobs(db: Kysely<Database>, workers: Worker[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const due = await db
      .selectFrom('contexts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '=', 'processing')
      .where('run_after', 'is not', null)
      .executeTakeFirstOrThrow();
    if (Number(due.n) === 0) return;
    if (Date.now() > deadline) throw new Error(`${due.n} jobs still processing after ${timeoutMs} ms`);
    const outcomes = await Promise.all(workers.map((worker) => worker.runOnce()));
    if (outcomes.every((outcome) => outcome === undefined)) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A processor that charges every card at once, for tests that only need payments to finish. */
export const chargingProcessor: PaymentProcessor = {
  async createCharge(key, request) {
    // Charge ids are ch_ + alphanumerics, as the processor's (openapi.yaml holds results to that).
    return { kind: 'charged', charge: { id: `ch_${createHash('sha256').update(key).digest('hex').slice(0, 16)}`, idempotencyKey: key, ...request, status: 'succeeded', createdAt: new Date().toISOString() } };
  },
  async getCharge() {
    return { kind: 'not-found' };
  },
};

export function testWorker(db: Kysely<Database>, options: RigWorkerOptions = {}): Worker {
  const { processor = chargingProcessor, ...rest } = options;
  return new Worker({
    db,
    actions: defaultActions({ processor }),
    logger: pino({ level: 'silent' }),
    leaseSeconds: 2,
    backoffBaseMs: 5,
    backoffCapMs: 100,
    maxAttempts: 100,
    pollMs: 10,
    ...rest,
  });
}

/** A processor that forwards to one made later (the API's actions exist before the simulator's port does). */
function forwardingProcessor(target: () => PaymentProcessor): PaymentProcessor {
  return {
    createCharge: (key, request, signal) => target().createCharge(key, request, signal),
    getCharge: (key, signal) => target().getCharge(key, signal),
    listCharges: (after, limit) => target().listCharges?.(after, limit) ?? Promise.resolve({ charges: [] }),
  };
}

export async function startPaymentRig(): Promise<PaymentRig> {
  const forward: { to?: ProcessorClient } = {};
  // The API's payment action reaches the simulator too: the admin API's reconcile and audit ask it.
  const server = await startTestServer({ actions: defaultActions({ processor: forwardingProcessor(() => forward.to ?? chargingProcessor) }) });
  const processor = await startProcessor({ pool: server.database.pool, port: 0 });
  processor.faults.hangMs = 2 * CLIENT_TIMEOUT_MS;
  const client = new ProcessorClient({ baseUrl: processor.url, timeoutMs: CLIENT_TIMEOUT_MS });
  forward.to = client;
  const journal = new OperationsJournal({ db: server.database.db, logger: pino({ level: 'silent' }), flushMs: 20 });
  let made = 0;
  const rig: PaymentRig = {
    server,
    processor,
    client,
    journal,
    worker: (options = {}) => testWorker(server.database.db, { processor: client, workerId: `test-worker-${++made}`, observePhase: journalPhases(journal), ...options }),
    drain: (workers, timeoutMs) => drainJobs(server.database.db, workers, timeoutMs),
    async close() {
      await journal.close();
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
