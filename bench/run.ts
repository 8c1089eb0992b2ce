// `npm run bench`: the service, a bare Koa + pg server and pgbench on the same statements, the
// same machine and the same database, one workload after another; every figure is printed next
// to its baseline of this run. Options: --duration <s> (per measurement, default 10),
// --connections <n> (default 32), --only <regex> (the parts whose name matches: a scenario,
// "keyed POST", "payments", "rate limits", "idle"),
// --skip-peer, --skip-payments, --profile <dir> (CPU profiles of the API and the bare server).
import { randomUUID } from 'node:crypto';
import { writeResults } from './results-file.ts';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { analyzeBenchDatabase, prepareBenchDatabase } from './database.ts';
import { runLoad, type Measurement } from './load.ts';
import { findPgbench, runPgbench } from './pgbench.ts';
import { buildForBench, startBenchProcess, type BenchProcess } from './processes.ts';
import { comparedLoad } from './measured-load.ts';
import { table } from './report.ts';
import { scenarios, type ExecutedContext, type Fixtures, type Scenario } from './scenarios.ts';
import { runPeerComparison } from './peer.ts';
import { runPaymentDrain } from './payments.ts';
import { measureIdleWorker } from './idle.ts';
import { limiterMicroseconds, measureRateLimitCost } from './rate-limit-cost.ts';

/** Issue #15: the API's resident memory under every workload, in MB (10^6 bytes). */
const RSS_TARGET_MB = 150;

const { values: options } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    pool: { type: 'string', default: '10' },
    only: { type: 'string' },
    'skip-peer': { type: 'boolean', default: false },
    'skip-payments': { type: 'boolean', default: false },
    /** Writes V8 CPU profiles of the API and the bare server into this directory (open them in Chrome DevTools). */
    profile: { type: 'string' },
  },
});
const durationSeconds = Number(options.duration);
const connections = Number(options.connections);
const poolSize = Number(options.pool);
const only = options.only === undefined ? undefined : new RegExp(options.only, 'i');
const selected = (name: string): boolean => only === undefined || only.test(name);

const started = Date.now();

// Everything printed is also the results file the bench writes (docs/benchmarks/latest.md).
const printed: string[] = [];
const print = (text: string): void => {
  printed.push(text);
  process.stdout.write(`${text}\n`);
};
const note = (text: string): void => void process.stderr.write(`# ${text}\n`);

async function executeFixtures(api: BenchProcess, fixtures: Omit<Fixtures, 'executed' | 'sampleBody'>, count: number): Promise<ExecutedContext[]> {
  const executed: ExecutedContext[] = [];
  for (let index = 0; index < count; index++) {
    const id = randomUUID();
    const from = fixtures.database.accounts[(index * 7) % fixtures.database.accounts.length] as string;
    const to = fixtures.database.accounts[(index * 7 + 3) % fixtures.database.accounts.length] as string;
    const body = JSON.stringify({ action: { type: 'transfer', from, to, amount: 1 } });
    const reply = await fetch(`${api.url}/contexts/${id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${fixtures.database.apiKey}`, 'content-type': 'application/json', 'if-none-match': '*' },
      body,
    });
    if (reply.status !== 201) throw new Error(`set-up transfer answered ${reply.status}: ${await reply.text()}`);
    executed.push({ id, body, etag: reply.headers.get('etag') ?? '' });
  }
  return executed;
}

function unexpected(scenario: Scenario, measurement: Measurement): string | undefined {
  const wrong = Object.entries(measurement.statuses).filter(([code]) => !scenario.expect.includes(code));
  if (wrong.length === 0 && measurement.errors === 0) return undefined;
  return `${scenario.name}: unexpected answers ${wrong.map(([code, n]) => `${code}×${n}`).join(' ')} errors×${measurement.errors}`;
}

/** The server's WAL insert position in bytes: the difference over a run is the WAL it wrote. */
async function walPosition(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ bytes: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS bytes`);
    return Number(rows[0]?.bytes ?? 0);
  } finally {
    await client.end();
  }
}

/** The scenarios bench/minimal-server.ts serves, and issue #15's targets against it. */
const MINIMAL_SCENARIOS = new Set(['one-shot transfer, hot rows', 'one-shot transfer, many accounts', 'replay', 'GET 304', 'GET 200']);
const MINIMAL_TARGET = 0.8;

function targetLines(minimalRatio: number | undefined, ours: Measurement): string[] {
  const verdict = (met: boolean): string => (met ? 'met' : 'missed');
  const lines: string[] = [];
  if (minimalRatio !== undefined) lines.push(`Target ours / minimal ≥ ${MINIMAL_TARGET}: ${minimalRatio.toFixed(2)} — ${verdict(minimalRatio >= MINIMAL_TARGET)}.`);
  const tail = ours.p99Ms / Math.max(ours.p50Ms, 0.001);
  lines.push(`Target p99 ≤ 3 × p50: ${tail.toFixed(1)} × — ${verdict(tail <= 3)}.`);
  return lines;
}

async function main(): Promise<void> {
  const pgbench = findPgbench();
  note('building dist/ (npm run build)');
  buildForBench();
  note(`preparing the database${process.env['DATABASE_URL'] ? ' on DATABASE_URL' : ' (embedded PostgreSQL)'}`);
  const database = await prepareBenchDatabase();
  const serverEnv = { DATABASE_URL: database.url, DATABASE_POOL_SIZE: String(poolSize), NODE_ENV: 'production', LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'info' };
  // The production settings of docs/operations.md ("Running it for real"): compiled JavaScript and a
  // young generation of 4 MiB semi-spaces (V8's default of 16 MiB let RSS grow past 190 MiB).
  const productionNodeArgs = process.env['BENCH_API_NODE_ARGS']?.split(' ') ?? ['--max-semi-space-size=4'];
  const profiling = [...productionNodeArgs, ...(options.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.profile}`])];
  const api = await startBenchProcess('api', 'dist/src/main.js', ['api'], serverEnv, { nodeArgs: profiling });
  const bare = await startBenchProcess('bare', 'dist/bench/bare-server.js', [], serverEnv, { nodeArgs: profiling });
  const minimal = await startBenchProcess('minimal', 'dist/bench/minimal-server.js', [], serverEnv, { nodeArgs: productionNodeArgs });
  const problems: string[] = [];
  const output: string[] = [];
  let peakRss = 0;
  try {
    const executed = await executeFixtures(api, { database }, 300);
    const sample = await fetch(`${api.url}/contexts/${executed[0]?.id ?? ''}`, { headers: { authorization: `Bearer ${database.apiKey}` } });
    const fixtures: Fixtures = { database, executed, sampleBody: await sample.text() };

    // Warm both servers' JIT and pools on the heaviest workload before anything is measured.
    for (const server of [api, bare]) {
      const first = scenarios[1];
      if (first) await runLoad({ url: server.url, connections, durationSeconds: 3, ...first.load(fixtures) });
    }

    output.push(
      `## Benchmark — ${new Date().toISOString().slice(0, 10)}`,
      '',
      `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${database.serverDescription}.`,
      `Each figure: ${durationSeconds} s of load; HTTP with autocannon, ${connections} connections over loopback; servers with a pool of ${poolSize} connections; pgbench -M prepared with ${poolSize} clients.`,
      '',
    );
    for (const scenario of scenarios.filter((s) => selected(s.name))) {
      note(scenario.name);
      await analyzeBenchDatabase(database.url);
      api.resetPeakRss();
      const walBefore = await walPosition(database.url);
      const [ours, baseline] = await comparedLoad(
        { server: api, load: { connections, ...scenario.load(fixtures) } },
        { server: bare, load: { connections, ...scenario.load(fixtures) } },
        durationSeconds,
      );
      const walBytes = (await walPosition(database.url)) - walBefore;
      // The physical-limit baseline, where it serves the request (bench/minimal-server.ts): ours and it, ABBA again.
      const limit = MINIMAL_SCENARIOS.has(scenario.name)
        ? await comparedLoad({ server: api, load: { connections, ...scenario.load(fixtures) } }, { server: minimal, load: { connections, ...scenario.load(fixtures) } }, durationSeconds)
        : undefined;
      const operations = (ours.throughput + baseline.throughput) * durationSeconds; // ABBA: each ran the full duration in all
      const rss = api.peakRssMiB();
      peakRss = Math.max(peakRss, rss);
      const physical = pgbench
        ? await runPgbench({ pgbench, databaseUrl: database.url, clients: poolSize, durationSeconds, ...scenario.pgbench(fixtures) })
        : undefined;
      for (const problem of [unexpected(scenario, ours), unexpected(scenario, baseline), limit && unexpected(scenario, limit[1])]) if (problem) problems.push(problem);
      const minimalRatio = limit ? limit[0].throughput / limit[1].throughput : undefined;
      const rows = [
        {
          label: 'ours',
          measurement: ours,
          ratios: {
            bare: ours.throughput / baseline.throughput,
            ...(minimalRatio === undefined ? {} : { minimal: minimalRatio }),
            ...(physical ? { pgbench: ours.throughput / physical.throughput } : {}),
          },
        },
        ...(limit ? [{ label: 'minimal node:http + pg', measurement: limit[1], ...(physical ? { ratios: { pgbench: limit[1].throughput / physical.throughput } } : {}) }] : []),
        { label: 'bare Koa + pg', measurement: baseline, ...(physical ? { ratios: { pgbench: baseline.throughput / physical.throughput } } : {}) },
        ...(physical ? [{ label: 'pgbench', measurement: physical }] : []),
      ];
      output.push(
        table(scenario.name, scenario.operation, rows),
        '',
        `API peak RSS: ${rss.toFixed(0)} MiB. WAL written per operation (ours and bare): ${(walBytes / Math.max(1, operations)).toFixed(0)} bytes.`,
        ...targetLines(minimalRatio, ours),
        '',
      );
      print(output.splice(0).join('\n'));
    }

    if (!options['skip-peer'] && selected('keyed POST')) {
      note('keyed POST: ours and the Idempotency-Key middleware peer');
      api.resetPeakRss();
      const peer = await runPeerComparison({ api, bare, minimal, database, connections, durationSeconds, poolSize, serverEnv });
      peakRss = Math.max(peakRss, api.peakRssMiB());
      problems.push(...peer.problems);
      print(`${peer.report}\n\nAPI peak RSS: ${api.peakRssMiB().toFixed(0)} MiB.\n`);
    }

    if (!options['skip-payments'] && selected('payments')) {
      note('payments: accepted by the API, drained by one worker');
      api.resetPeakRss();
      const payments = await runPaymentDrain({ api, database, connections, durationSeconds, serverEnv });
      peakRss = Math.max(peakRss, api.peakRssMiB());
      problems.push(...payments.problems);
      print(`${payments.report}\n\nAPI peak RSS: ${api.peakRssMiB().toFixed(0)} MiB.\n`);
    }

    if (selected('rate limits')) {
      note('rate limits: GET 304 with the limits on, counted, and off (and off again as the control)');
      const cost = await measureRateLimitCost({ database, serverEnv, connections, durationSeconds, rounds: 1, nodeArgs: productionNodeArgs });
      const micro = await limiterMicroseconds();
      print(
        `### What the rate limiter costs\nGET 304; four API processes: limits off, off again (the control), the defaults with a rate counted but never reached (on), and every limit counted with nothing waiting.\n\n${cost.report}\n\n` +
          `The limiter alone (in process): ${micro.toFixed(2)} µs of CPU per request. Throughput, limits on: ${cost.ratio.toFixed(2)} of off; counted: ${cost.countedRatio.toFixed(2)}; the control: ${cost.controlRatio.toFixed(2)} (the noise of this run).\n`,
      );
    }

    if (selected('idle')) {
      note('idle: one worker process with nothing to do');
      const idle = await measureIdleWorker({ api, database, connections, durationSeconds, serverEnv });
      print(`${idle.report}\n`);
    }

    const peakMb = (peakRss * 2 ** 20) / 1e6;
    print(`API process peak RSS under load: ${peakRss.toFixed(0)} MiB.`);
    if (peakRss > 0) print(`Target API RSS ≤ ${RSS_TARGET_MB} MB under every workload: ${peakMb.toFixed(0)} MB — ${peakMb <= RSS_TARGET_MB ? 'met' : 'missed'}.`);
    print(`Bench took ${Math.round((Date.now() - started) / 1000)} s.${pgbench ? '' : ' pgbench was not found: install postgresql-client for the physical-limit rows.'}`);
  } finally {
    await Promise.all([api.stop(), bare.stop(), minimal.stop()]);
    await database.stop();
  }
  if (problems.length > 0) {
    print(`\nProblems:\n${problems.map((p) => `- ${p}`).join('\n')}`);
    process.exitCode = 1;
  }
  await writeResults(printed, { durationSeconds, connections, only: options.only });
}

await main();
