// `npm run bench` must keep working from a clean clone: run every part of it for a second each
// on this test run's Postgres and check that it prints its tables and finds no problem. No
// figure is asserted (benchmarks measure, tests do not time).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);

test('npm run bench runs end to end: every table, the peer comparison and the payment drains', async (t) => {
  t.timeout(240_000); // under load on 2 cores; the DBOS drain adds its migration, enqueue and start-up
  const results = path.join(await mkdtemp(path.join(os.tmpdir(), 'idem-bench-')), 'results.md');
  const { stdout } = await run(
    process.execPath,
    ['--import=tsx', 'bench/run.ts', '--duration', '1', '--connections', '8', '--only', 'GET 304|keyed POST|payments|idle'],
    { env: { ...process.env, BENCH_DATABASE: `idem_bench_smoke_${process.pid}`, BENCH_RESULTS: results }, timeout: 230_000, maxBuffer: 10_000_000 },
  );
  t.regex(stdout, /### GET 304\n/);
  t.regex(stdout, /\| ours \| \d+ .*\| bare Koa \+ pg \|/s);
  t.regex(stdout, /\| minimal node:http \+ pg \| \d+ /, 'the physical-limit baseline runs');
  t.regex(stdout, /Target ours \/ minimal ≥ 0\.8: \d+\.\d+ — (met|missed)\./);
  t.regex(stdout, /### Keyed POST/);
  t.regex(stdout, /### Concurrent retries/);
  t.regex(stdout, /\| ours \| 0 \(in 0 of 20 bursts\) \| 0 \|/, 'ours lets no duplicate through');
  t.regex(stdout, /drained \d+ payments \(0 failed, 0 left\)/);
  t.regex(stdout, /\| DBOS Transact workflow \| \d+ \|/, 'the durable-workflow peer drains the same payments');
  t.regex(stdout, /Target ours ≥ 2 × DBOS: \d+\.\d+ — (met|missed)\./);
  t.regex(stdout, /Target ours ≥ peer \(keyed\): \d+\.\d+ × — (met|missed)\./);
  t.regex(stdout, /Target ours \(keyed\) \/ minimal deposit without idempotency ≥ 0\.8: \d+\.\d+ — (met|missed)\./);
  t.regex(stdout, /Target ≤ 5 transactions\/s: \d+\.\d+ — (met|missed)\./, 'the idle worker is counted');
  t.regex(stdout, /API process peak RSS under load: \d+ MiB/);
  t.regex(stdout, /Target API RSS ≤ 150 MB under every workload: \d+ MB — (met|missed)\./);
  t.notRegex(stdout, /Problems:/);
  // The bench writes what it printed to its results file, under the date, the machine and the commit.
  const written = await readFile(results, 'utf8');
  t.regex(written, /^# Benchmark run of \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\n/);
  t.regex(written, /Machine: \d+ × .+ GiB.*Commit: /);
  t.true(written.includes('### GET 304'));
});
