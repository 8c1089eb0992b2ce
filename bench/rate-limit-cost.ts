// What the request limits (src/http/rate-limits.ts) cost per request: GET 304 on four API
// processes — every limit off; a second one so (the control: what two identical servers differ
// by); the defaults on plus a tenant rate counted on every request but never reached; and the
// same with a concurrency above the load's connections, so that every request is counted and
// none waits (the bookkeeping alone) — each measured against "off" in rounds, A B B A then B A A B.
//
//   npx tsx bench/rate-limit-cost.ts [--duration 12] [--rounds 3] [--connections 32] [--pool 10]
//
// (BENCH_DATABASE names the database it drops and creates, idem_bench by default: give it
// another name while `npm run bench` may run beside it.)
//
// measureRateLimitCost() is the same measurement for a bench that has its database and dist/ ready.
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Context } from 'koa';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { RequestLimits } from '../src/http/rate-limits.ts';
import { prepareBenchDatabase, type BenchDatabase } from './database.ts';
import type { Measurement } from './load.ts';
import { comparedLoad } from './measured-load.ts';
import { buildForBench, startBenchProcess, type BenchProcess } from './processes.ts';
import { table } from './report.ts';

/** Every limit off. */
export const LIMITS_OFF_ENV = {
  RATE_LIMIT_TENANT_REQUESTS_PER_SECOND: '0',
  RATE_LIMIT_TENANT_CONCURRENCY: '0',
  RATE_LIMIT_ADMIN_REQUESTS_PER_SECOND: '0',
  RATE_LIMIT_ADMIN_CONCURRENCY: '0',
  RATE_LIMIT_AUTH_FAILURES: '0',
} as const;

/**
 * The defaults (concurrency below the pool, failed authentications), and a tenant rate far above
 * what one process serves: every request is counted, none is refused for it.
 */
export const LIMITS_ON_ENV = { RATE_LIMIT_TENANT_REQUESTS_PER_SECOND: '1000000' } as const;

/** Every limit counted, none reached: what the bookkeeping costs, without the line for slots. */
export const LIMITS_COUNTED_ENV = { ...LIMITS_ON_ENV, RATE_LIMIT_TENANT_CONCURRENCY: '100000' } as const;

export interface RateLimitCostOptions {
  database: BenchDatabase;
  /** The environment of the API processes (DATABASE_URL, pool size, NODE_ENV…); the limits' variables are set on top. */
  serverEnv: Record<string, string>;
  connections: number;
  /** Load time per variant against "off", split over the rounds (each round A B B A, at least 2 s). */
  durationSeconds: number;
  /** Interleaved rounds (default 3). */
  rounds?: number;
  nodeArgs?: string[];
}

export interface RateLimitCost {
  off: Measurement;
  on: Measurement;
  counted: Measurement;
  /** Throughput with the limits on (the defaults) over throughput with them off. */
  ratio: number;
  /** Throughput with every limit counted and none reached over off. */
  countedRatio: number;
  /** Throughput of a second server with the limits off over the first: the noise of this run. */
  controlRatio: number;
  /** The Markdown table of both, for a results file. */
  report: string;
}

/** Executed contexts to revalidate (a one-shot transfer each), with their ETags. */
async function executedContexts(url: string, database: BenchDatabase, count: number): Promise<{ id: string; etag: string }[]> {
  const contexts: { id: string; etag: string }[] = [];
  for (let index = 0; index < count; index++) {
    const id = randomUUID();
    const from = database.accounts[(index * 7) % database.accounts.length] ?? '';
    const to = database.accounts[(index * 7 + 3) % database.accounts.length] ?? '';
    const reply = await fetch(`${url}/contexts/${id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${database.apiKey}`, 'content-type': 'application/json', 'if-none-match': '*' },
      body: JSON.stringify({ action: { type: 'transfer', from, to, amount: 1 } }),
    });
    if (reply.status !== 201) throw new Error(`set-up transfer answered ${reply.status}: ${await reply.text()}`);
    contexts.push({ id, etag: reply.headers.get('etag') ?? '' });
  }
  return contexts;
}

/** The average of several measurements of one server (throughput, latencies, CPU per op), answers summed. */
function average(measurements: Measurement[]): Measurement {
  const mean = (pick: (m: Measurement) => number): number => measurements.reduce((sum, m) => sum + pick(m), 0) / Math.max(measurements.length, 1);
  const statuses: Record<string, number> = {};
  for (const m of measurements) for (const [code, count] of Object.entries(m.statuses)) statuses[code] = (statuses[code] ?? 0) + count;
  const withCpu = measurements.every((m) => m.cpuMsPerOp !== undefined);
  return {
    throughput: mean((m) => m.throughput),
    p50Ms: mean((m) => m.p50Ms),
    p99Ms: mean((m) => m.p99Ms),
    statuses,
    errors: measurements.reduce((sum, m) => sum + m.errors, 0),
    ...(withCpu
      ? { cpuMsPerOp: { server: mean((m) => m.cpuMsPerOp?.server ?? 0), postgres: mean((m) => m.cpuMsPerOp?.postgres ?? 0), loadGenerator: mean((m) => m.cpuMsPerOp?.loadGenerator ?? 0) } }
      : {}),
  };
}

/**
 * GET 304 with the limits off, on and counted, and a second "off" as the control (what two
 * identical servers differ by on this machine now); dist/ must be built (buildForBench) and the
 * database prepared. Each variant is compared with "off" A B B A, in `rounds` interleaved rounds,
 * so that a machine that gets busier or quieter during the run favours none of them.
 */
export async function measureRateLimitCost(options: RateLimitCostOptions): Promise<RateLimitCost> {
  const start = (name: string, limits: Record<string, string>) =>
    startBenchProcess(name, 'dist/src/main.js', ['api'], { ...options.serverEnv, ...limits }, options.nodeArgs ? { nodeArgs: options.nodeArgs } : {});
  const started: BenchProcess[] = [];
  try {
    const variants = {} as Record<'off' | 'control' | 'on' | 'counted', BenchProcess>;
    for (const [key, env] of [['off', LIMITS_OFF_ENV], ['control', LIMITS_OFF_ENV], ['on', LIMITS_ON_ENV], ['counted', LIMITS_COUNTED_ENV]] as const) {
      const server = await start(`api (limits ${key})`, env);
      started.push(server);
      variants[key] = server;
    }
    const contexts = await executedContexts(variants.off.url, options.database, 100);
    let next = 0;
    const load = {
      connections: options.connections,
      next: () => {
        const context = contexts[next++ % contexts.length] ?? { id: '', etag: '' };
        return { method: 'GET' as const, path: `/contexts/${context.id}`, headers: { authorization: `Bearer ${options.database.apiKey}`, 'if-none-match': context.etag } };
      },
    };
    const compared = ['control', 'on', 'counted'] as const;
    // Warm every server (JIT, the key cache, prepared statements) before anything is measured.
    for (const key of compared) await comparedLoad({ server: variants.off, load }, { server: variants[key], load }, 2);
    const rounds = Math.max(1, options.rounds ?? 3);
    const results = Object.fromEntries(compared.map((key) => [key, { off: [] as Measurement[], variant: [] as Measurement[] }]));
    for (let round = 0; round < rounds; round++) {
      for (const key of compared) {
        // A B B A, then B A A B in the next round: neither side is always measured first.
        const seconds = Math.max(2, options.durationSeconds / rounds);
        const [off, variant] =
          round % 2 === 0
            ? await comparedLoad({ server: variants.off, load }, { server: variants[key], load }, seconds)
            : (await comparedLoad({ server: variants[key], load }, { server: variants.off, load }, seconds)).reverse() as [Measurement, Measurement];
        results[key]?.off.push(off);
        results[key]?.variant.push(variant);
      }
    }
    const pair = (key: (typeof compared)[number]) => {
      const off = average(results[key]?.off ?? []);
      const variant = average(results[key]?.variant ?? []);
      return { off, variant, ratio: variant.throughput / Math.max(off.throughput, 1e-9) };
    };
    const [control, on, counted] = [pair('control'), pair('on'), pair('counted')];
    const pool = options.serverEnv['DATABASE_POOL_SIZE'] ?? '10';
    const report = table(
      'rate limits: GET 304',
      `GET /contexts/{id} with If-None-Match, ${options.connections} connections, one tenant, ${rounds} interleaved rounds. "on": the defaults (${pool} − 2 requests in progress per tenant, the rest wait for a slot; failed authentications) and a tenant rate counted on every request, never reached; "counted": the same with room for every connection (nothing waits); "control": limits off, a second process (the noise between two identical servers). Each "of off" ratio is to the "off" measured beside it (A B B A, then B A A B); "off" runs in every pair, so it is the warmest, and "of control" compares servers measured equally often.`,
      [
        { label: 'limits off', measurement: average([...(results['on']?.off ?? []), ...(results['counted']?.off ?? []), ...(results['control']?.off ?? [])]) },
        { label: 'control (off again)', measurement: control.variant, ratios: { off: control.ratio } },
        { label: 'limits on', measurement: on.variant, ratios: { off: on.ratio, control: on.variant.throughput / Math.max(control.variant.throughput, 1e-9) } },
        { label: 'limits counted', measurement: counted.variant, ratios: { off: counted.ratio, control: counted.variant.throughput / Math.max(control.variant.throughput, 1e-9) } },
      ],
    );
    return { off: on.off, on: on.variant, counted: counted.variant, ratio: on.ratio, countedRatio: counted.ratio, controlRatio: control.ratio, report };
  } finally {
    await Promise.all(started.map((server) => server.stop()));
  }
}

/**
 * The limiter alone, in this process: microseconds of CPU per admitted request under the "on"
 * settings (one tenant, a free slot, nothing refused), from `iterations` calls of admit() with a
 * stand-in context. Immune to what else the machine runs, unlike the HTTP figures.
 */
export async function limiterMicroseconds(iterations = 200_000): Promise<number> {
  const settings = loadConfig({ ...LIMITS_ON_ENV }).rateLimits;
  const limits = RequestLimits.create(settings, pino({ level: 'silent' }));
  if (!limits) throw new Error('the "on" settings turned every limit off');
  const ctx = { set: () => undefined, state: {}, ip: '127.0.0.1' } as unknown as Context;
  const next = async (): Promise<void> => undefined;
  const run = async (count: number): Promise<number> => {
    const before = process.cpuUsage();
    for (let i = 0; i < count; i++) await limits.admit(ctx, 'tenant', 'a-tenant-id', next);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / count;
  };
  await run(Math.min(iterations, 20_000)); // JIT
  const withLimits = await run(iterations);
  const before = process.cpuUsage();
  for (let i = 0; i < iterations; i++) await next();
  const bare = process.cpuUsage(before);
  return withLimits - (bare.user + bare.system) / iterations;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '12' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '32' },
      pool: { type: 'string', default: '10' },
    },
  });
  buildForBench();
  const database = await prepareBenchDatabase();
  try {
    const cost = await measureRateLimitCost({
      database,
      serverEnv: { DATABASE_URL: database.url, DATABASE_POOL_SIZE: values.pool, NODE_ENV: 'production', LOG_LEVEL: 'warn' },
      connections: Number(values.connections),
      durationSeconds: Number(values.duration),
      rounds: Number(values.rounds),
      nodeArgs: ['--max-semi-space-size=4'],
    });
    const micro = await limiterMicroseconds();
    process.stdout.write(
      `The limiter alone (admit(), in process): ${micro.toFixed(2)} µs of CPU per request.\n\n${cost.report}\n\nThroughput, limits on: ${cost.ratio.toFixed(3)} of off; every limit counted, none reached: ${cost.countedRatio.toFixed(3)}; control (off again): ${cost.controlRatio.toFixed(3)}.\n`,
    );
  } finally {
    await database.stop();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
