// npm run example:shipping:worker — runs the phases of `ship-order` (run several), delivers the
// webhooks and sweeps expired Idempotency-Keys, as the bundled service's worker does. Drains on
// SIGTERM: the jobs in hand finish first. DATABASE_URL, SHIPPING_PROVIDER_URL,
// WORKER_LEASE_SECONDS, WORKER_CONCURRENCY, WORKER_MAX_ATTEMPTS, LOG_LEVEL; FAILPOINT=<boundary>-<phase>
// for crash tests.
import { runKeySweeper, runWebhookDeliverer, untilSignal } from '../../src/index.ts';
import { migrateShipping } from './action.ts';
import { createShippingEngine } from './app.ts';
import { exampleSetup, wholeNumber } from './env.ts';

const { logger, pool, providerUrl } = exampleSetup('worker');
const engine = createShippingEngine({ pool, providerUrl, logger });
await engine.migrate();
await migrateShipping(engine.db);
const failpoint = process.env['FAILPOINT']?.trim();
// A provider may fail often for a while: many attempts, and retries at most 5 s apart, before a
// job is parked for reconciliation.
const worker = engine.createWorker({
  leaseSeconds: wholeNumber('WORKER_LEASE_SECONDS', 10),
  concurrency: wholeNumber('WORKER_CONCURRENCY', 8),
  maxAttempts: wholeNumber('WORKER_MAX_ATTEMPTS', 50),
  backoffBaseMs: 200,
  backoffCapMs: 5_000,
  ...(failpoint ? { crashAt: failpoint } : {}),
});
const signal = untilSignal();
logger.info({ worker: worker.id, types: worker.types() }, 'shipping worker running');
await Promise.all([
  worker.run(signal),
  runWebhookDeliverer(engine.db, { signal, logger }),
  runKeySweeper(engine.db, { signal, logger }),
]);
await engine.close();
await pool.end();
