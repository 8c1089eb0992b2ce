// `npm run reconcile [-- --dry-run]`: compares the processor's charges with our payments and
// ledger, repairs what is safe to repair, prints every difference. Exit code 0 when nothing is
// left unresolved, 2 when a person must look.
import { loadConfig } from '../config.ts';
import { createDatabase, createPool } from '../db/database.ts';
import { useDevelopmentDatabase } from '../db/embedded.ts';
import { webhookEventHook } from '../webhooks/hook.ts';
import { ProcessorClient } from './processor-client.ts';
import { reconcile } from './reconcile.ts';

const config = loadConfig();
const dryRun = process.argv.includes('--dry-run');
const embedded = config.databaseUrl ? undefined : await useDevelopmentDatabase(config.dataDir, config.embeddedPostgresPort);
const pool = createPool(config.databaseUrl ?? embedded?.url ?? '', 2);
const db = createDatabase(pool);
let exitCode = 0;
try {
  const client = new ProcessorClient({
    baseUrl: config.processorUrl ?? `http://127.0.0.1:${config.processorPort}`,
    timeoutMs: config.processorTimeoutMs,
  });
  const report = await reconcile(db, client, { repair: !dryRun, onTerminalState: webhookEventHook });
  for (const difference of report.differences) console.log(JSON.stringify(difference));
  const unresolved = report.differences.filter((difference) => !difference.repaired).length;
  console.log(
    `charges: ${report.charges}, payments: ${report.payments}, matched: ${report.matched}, ` +
      `differences: ${report.differences.length}, repaired: ${report.differences.length - unresolved}, unresolved: ${unresolved}`,
  );
  exitCode = unresolved === 0 ? 0 : 2;
} finally {
  await db.destroy();
  await embedded?.stop();
}
process.exit(exitCode);
