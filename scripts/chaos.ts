// `npm run chaos [-- --seconds N --clients N --pooler]`: bounded (default 2 minutes of load, then a drain),
// prints the invariant figures and ends with `duplicates: N` and `lost: N`; exits 1 if any fails.
// --pooler: the services connect through PgBouncer in transaction mode (scripts/pgbouncer.ts).
// `--failover`: a primary and a synchronous standby instead, failed over mid-load
// (scripts/chaos/failover.ts); `--async-standby` (synchronous_commit=off) or
// `--synchronous-commit <value>` to see what is lost without the standby's acknowledgement.
import { parseArgs } from 'node:util';
import { runChaos } from './chaos/harness.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: process.env['CHAOS_SECONDS'] ?? '120' },
    clients: { type: 'string', default: '12' },
    pooler: { type: 'boolean', default: false },
    failover: { type: 'boolean', default: false },
    'async-standby': { type: 'boolean', default: false },
    'synchronous-commit': { type: 'string' },
  },
});
const synchronousCommit = values['synchronous-commit'] ?? (values['async-standby'] ? 'off' : 'on');
if (!['on', 'remote_apply', 'remote_write', 'local', 'off'].includes(synchronousCommit)) {
  console.error('--synchronous-commit must be on, remote_apply, remote_write, local or off');
  process.exit(2);
}
const seconds = Number(values.seconds);
const clients = Number(values.clients);
if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600 || !Number.isInteger(clients) || clients < 1 || clients > 200) {
  console.error('--seconds must be 1..3600 and --clients 1..200');
  process.exit(2);
}
const report = await runChaos({
  seconds,
  clients,
  pooler: values.pooler,
  ...(process.env['DATABASE_URL'] ? { serverUrl: process.env['DATABASE_URL'] } : {}),
  ...(values.failover || values['async-standby'] || values['synchronous-commit'] ? { failover: { synchronousCommit } } : {}),
  log: (line) => console.error(`# ${line}`),
});
for (const line of report.lines) console.log(line);
process.exit(report.ok ? 0 : 1);
