// `npm run reconcile [-- --dry-run]`: reconciles every asynchronous action that has a reconcile
// hook (the card payment's asks the processor about each unfinished charge), repairs what is safe
// to repair, runs the actions' audits, and prints one JSON line per job and finding. Exit code
// 0 when nothing is left unresolved, 2 when a person must look.
import { pino } from 'pino';
import { defaultActions } from './app.ts';
import { loadConfig } from './config.ts';
import { createDatabase, createPool } from './db/database.ts';
import { ProcessorClient } from './payments/processor-client.ts';
import { notedProcessorUrl } from './processor/url-file.ts';
import { reconcileJobs, unresolved } from './phases/reconcile.ts';

const config = loadConfig();
const dryRun = process.argv.includes('--dry-run');
const embedded = config.databaseUrl ? undefined : await (await import('./db/embedded.ts')).useDevelopmentDatabase(config.dataDir, config.embeddedPostgresPort);
const pool = createPool(config.databaseUrl ?? embedded?.url ?? '', 2, config.databaseTimeouts);
const db = createDatabase(pool);
let exitCode = 0;
try {
  const processor = new ProcessorClient({
    // PROCESSOR_URL, else PROCESSOR_PORT, else the simulator a running `npm start` noted, else 3001.
    baseUrl: config.processorUrl ?? (config.processorPort === undefined ? notedProcessorUrl(config.dataDir) : undefined) ?? `http://127.0.0.1:${config.processorPort ?? 3001}`,
    timeoutMs: config.processorTimeoutMs,
  });
  const report = await reconcileJobs(db, defaultActions({ processor }), { repair: !dryRun, logger: pino({ level: 'warn' }) });
  for (const job of report.jobs) console.log(JSON.stringify(job));
  for (const finding of report.findings) console.log(JSON.stringify(finding));
  const left = unresolved(report);
  const repaired = report.jobs.filter((job) => ['finished', 'handed-on', 'resumed'].includes(job.outcome)).length;
  console.log(`jobs: ${report.jobs.length}, repaired: ${repaired}, findings: ${report.findings.length}, unresolved: ${left}${dryRun ? ' (dry run)' : ''}`);
  exitCode = left === 0 ? 0 : 2;
} finally {
  await db.destroy();
  await embedded?.stop();
}
process.exit(exitCode);
