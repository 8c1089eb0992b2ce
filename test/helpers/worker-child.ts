// A worker in its own process, for crash tests: runs one job and prints what happened, unless
// FAILPOINT kills it first (src/worker/failpoints.ts).
import { pino } from 'pino';
import { createDatabase, createPool } from '../../src/db/database.ts';
import { ProcessorClient } from '../../src/payments/processor-client.ts';
import { webhookEventHook } from '../../src/webhooks/hook.ts';
import { Worker } from '../../src/worker/worker.ts';

const db = createDatabase(createPool(process.env['DATABASE_URL'] ?? '', 2));
const worker = new Worker({
  db,
  processor: new ProcessorClient({ baseUrl: process.env['PROCESSOR_URL'] ?? '', timeoutMs: 800 }),
  onTerminalState: webhookEventHook,
  logger: pino({ level: 'silent' }),
  workerId: 'child',
  leaseSeconds: 1,
});
const outcome = await worker.runOnce();
process.stdout.write(`${JSON.stringify(outcome ?? null)}\n`);
await db.destroy();
