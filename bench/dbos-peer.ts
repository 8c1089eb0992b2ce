// The durable-workflow peer (issue #15): the same card payment as a DBOS Transact workflow, as a
// Node team would write it on @dbos-inc/dbos-sdk 5.x. One step charges the card through the
// bundled processor with the workflow id as its Idempotency-Key; one step credits the account on
// our ledger tables. The process only executes: the bench enqueues the workflows beforehand
// (bench/dbos-drain.ts), and this process drains the queue.
// Run: DATABASE_URL=… DBOS_SYSTEM_DATABASE_URL=… PROCESSOR_URL=… BENCH_TENANT_ID=… node dist/bench/dbos-peer.js [migrate]
import { DBOS } from '@dbos-inc/dbos-sdk';
import { ProcessorClient } from '../src/payments/processor-client.ts';
import { pool, postLegs, run, transaction } from './baseline-db.ts';
import { DBOS_APPLICATION, DBOS_WORKFLOW, type DbosPayment } from './dbos-payment.ts';
import { SQL } from './sql.ts';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

// `… dbos-peer.js migrate`: only creates DBOS's tables in the empty system database, so the bench
// can enqueue before any executor runs (in a child process: DBOS prints its migration notes).
if (process.argv[2] === 'migrate') {
  await DBOS.migrate(required('DBOS_SYSTEM_DATABASE_URL'));
  process.exit(0);
}

/** A charge whose outcome the processor did not tell (timeout, 5xx): the step retries with the same key. */
class UnknownChargeOutcome extends Error {}

const processor = new ProcessorClient({ baseUrl: required('PROCESSOR_URL'), timeoutMs: Number(process.env['PROCESSOR_TIMEOUT_MS'] ?? 2_000) });
const tenant = required('BENCH_TENANT_ID');

async function charge(key: string, payment: DbosPayment): Promise<string> {
  const outcome = await processor.createCharge(key, { amount: payment.amount, currency: payment.currency, source: payment.source });
  if (outcome.kind === 'charged') return outcome.charge.id;
  if (outcome.kind === 'unknown') throw new UnknownChargeOutcome(outcome.reason);
  // Declined or rejected: final, the workflow ends in ERROR (the bench runs with faults off).
  throw new Error(outcome.kind === 'declined' ? `declined: charge ${outcome.charge.id}` : `rejected (${outcome.status}): ${outcome.detail}`);
}

/**
 * The credit as one Postgres transaction. No DBOS datasource for 5.x is on the registry (the
 * published knex, postgres.js, drizzle and prisma datasources import schema helpers that
 * @dbos-inc/dbos-sdk 5.3 no longer exports), so this is a DBOS step, which DBOS runs at least
 * once; it is exactly-once by a unique key derived from the workflow id: the transaction inserts
 * the payment's context row, whose primary key is (tenant, workflow id), and credits only when
 * that insert created it. The row is also what the ledger's entries reference (entries.context_id).
 * The statements are the plain deposit of bench/sql.ts: insert the context, then the ledger's
 * statements as the service sends them (postLegs, bench/baseline-db.ts).
 */
async function credit(workflowId: string, payment: DbosPayment): Promise<{ credited: boolean }> {
  return transaction(async (client) => {
    const [created] = await run(client, SQL.insertContext, [tenant, workflowId, null, 86_400]);
    if (!created) return { credited: false }; // an earlier attempt committed the credit
    await postLegs(client, tenant, workflowId, [[payment.account, payment.amount]]);
    return { credited: true };
  });
}

async function payment(input: DbosPayment): Promise<{ chargeId: string; credited: boolean }> {
  const workflowId = DBOS.workflowID;
  if (workflowId === undefined) throw new Error('payment runs only as a DBOS workflow');
  const chargeId = await DBOS.runStep(() => charge(workflowId, input), {
    name: 'charge',
    // As our worker's WORKER_MAX_ATTEMPTS: an unknown outcome is retried with the same key.
    retriesAllowed: true,
    maxAttempts: 8,
    intervalSeconds: 0.1,
    shouldRetry: (error) => error instanceof UnknownChargeOutcome,
  });
  const { credited } = await DBOS.runStep(() => credit(workflowId, input), { name: 'credit', retriesAllowed: true, maxAttempts: 8, intervalSeconds: 0.1 });
  return { chargeId, credited };
}

DBOS.registerWorkflow(payment, { name: DBOS_WORKFLOW });

// The queue (its worker concurrency and polling interval) was registered by the bench with the
// workflows; this process's queue runner picks up its application's queues from the system database.
DBOS.setConfig({
  name: DBOS_APPLICATION,
  systemDatabaseUrl: required('DBOS_SYSTEM_DATABASE_URL'),
  systemDatabasePoolSize: Number(process.env['DATABASE_POOL_SIZE'] ?? 10),
  logLevel: process.env['DBOS_LOG_LEVEL'] ?? 'warn',
  runMigrations: false, // the bench migrated the system database before it enqueued
});
await DBOS.launch();
process.on('SIGTERM', () => {
  void DBOS.shutdown()
    .then(() => pool.end())
    .then(() => process.exit(0));
});
