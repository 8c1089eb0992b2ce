// The short profiles of `npm run chaos`: a few seconds of retried load under injected faults,
// then every invariant (no duplicate, nothing lost, ledger and processor agree). One at a time:
// each runs four service processes.
import test from 'ava';
import { runChaos } from '../scripts/chaos/harness.ts';
import { findPgBouncer } from '../scripts/pgbouncer.ts';
import { serverUrl } from './helpers/database.ts';

test.serial('chaos, short profile: duplicates 0, lost 0, every invariant holds', async (t) => {
  t.timeout(150_000);
  const report = await runChaos({ seconds: 10, clients: 4, serverUrl: serverUrl(), log: (line) => t.log(line) });
  for (const line of report.lines) t.log(line);
  t.is(report.duplicates, 0);
  t.is(report.lost, 0);
  t.true(report.ok, report.lines.join('\n'));
  t.is(report.lines.at(-2), 'duplicates: 0');
  t.is(report.lines.at(-1), 'lost: 0');
});

// `npm run chaos -- --pooler`: the same, with the services reaching Postgres through PgBouncer in
// transaction mode and their defaults otherwise (lost prepared statements, deaf LISTEN). Serial:
// two runs at once start eight service processes together, too many for 2 cores at the start of npm test.
const pgbouncer = findPgBouncer();
if ('missing' in pgbouncer) console.error(`# test/chaos.test.ts, pooler profile skipped: ${pgbouncer.missing}`);
('binary' in pgbouncer ? test.serial : test.serial.skip)('chaos, short pooler profile: through PgBouncer in transaction mode, no 500, duplicates 0, lost 0', async (t) => {
  t.timeout(150_000);
  const report = await runChaos({ seconds: 6, clients: 3, serverUrl: serverUrl(), pooler: true, log: (line) => t.log(line) });
  for (const line of report.lines) t.log(line);
  t.regex(report.lines[0] ?? '', /through PgBouncer \(transaction mode\)/);
  t.true(report.ok, report.lines.join('\n'));
  t.is(report.lines.at(-2), 'duplicates: 0');
  t.is(report.lines.at(-1), 'lost: 0');
});

test.serial('chaos, failover profile: the primary SIGKILLed mid-load, its synchronous standby promoted: nothing acknowledged lost, nothing twice, no 500', async (t) => {
  t.timeout(180_000);
  const report = await runChaos({ seconds: 12, clients: 4, failover: { synchronousCommit: 'on' }, log: (line) => t.log(line) });
  for (const line of report.lines) t.log(line);
  t.is(report.duplicates, 0);
  t.is(report.lost, 0);
  t.true(report.ok, report.lines.join('\n'));
  t.regex(report.lines.join('\n'), /recovery: first 2xx \d+ ms after the switch/);
  t.regex(report.lines.join('\n'), /500s must be 0: holds/);
});
