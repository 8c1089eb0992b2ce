// A worker in its own process, for crash tests: runs one job and prints what happened, unless
// FAILPOINT (`<boundary>-<phase>`, src/phases/failpoints.ts) kills it first.
import { pino } from 'pino';
import { defaultActions } from '../../src/app.ts';
import { createDatabase, createPool } from '../../src/db/database.ts';
import { ProcessorClient } from '../../src/payments/processor-client.ts';
import { Worker } from '../../src/phases/worker.ts';

const db = createDatabase(createPool(process.env['DATABASE_URL'] ?? '', 2));
const worker = new Worker({
  db,
  actions: defaultActions({ processor: new ProcessorClient({ baseUrl: process.env['PROCESSOR_URL'] ?? '', timeoutMs: 800 }) }),
  logger: pino({ level: 'silent' }),
  workerId: 'child',
  leaseSeconds: 1,
  ...(process.env['FAILPOINT'] ? { crashAt: process.env['FAILPOINT'] } : {}),
});
const outcome = await worker.runOnce();
process.stdout.write(`${JSON.stringify(outcome ?? null)}\n`);
await db.destroy();
