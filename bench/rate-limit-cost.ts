// What the request limits (src/http/rate-limits.ts) cost per request: GET 304 on two API
// processes, one with every limit off and one with the defaults on plus a tenant rate that is
// counted on every request but never reached, measured A B B A in one run.
//
//   npx tsx bench/rate-limit-cost.ts [--duration 10] [--connections 32] [--pool 10]
//
// measureRateLimitCost() is the same measurement for a bench that has its database and dist/ ready.
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareBenchDatabase, type BenchDatabase } from './database.ts';
import type { Measurement } from './load.ts';
import { comparedLoad } from './measured-load.ts';
import { buildForBench, startBenchProcess } from './processes.ts';
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

export interface RateLimitCostOptions {
  database: BenchDatabase;
  /** The environment of the API processes (DATABASE_URL, pool size, NODE_ENV…); the limits' variables are set on top. */
  serverEnv: Record<string, string>;
  connections: number;
  /** Of the whole comparison; each of the four runs gets half of it. */
  durationSeconds: number;
  nodeArgs?: string[];
}

export interface RateLimitCost {
  off: Measurement;
  on: Measurement;
  /** Throughput with the limits on over throughput with them off. */
  ratio: number;
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

/** GET 304 with the limits off and on; dist/ must be built (buildForBench) and the database prepared. */
export async function measureRateLimitCost(options: RateLimitCostOptions): Promise<RateLimitCost> {
  const start = (name: string, limits: Record<string, string>) =>
    startBenchProcess(name, 'dist/src/main.js', ['api'], { ...options.serverEnv, ...limits }, options.nodeArgs ? { nodeArgs: options.nodeArgs } : {});
  const off = await start('api (limits off)', LIMITS_OFF_ENV);
  const on = await start('api (limits on)', LIMITS_ON_ENV).catch(async (error: unknown) => {
    await off.stop();
    throw error;
  });
  try {
    const contexts = await executedContexts(off.url, options.database, 100);
    let next = 0;
    const load = {
      connections: options.connections,
      next: () => {
        const context = contexts[next++ % contexts.length] ?? { id: '', etag: '' };
        return { method: 'GET' as const, path: `/contexts/${context.id}`, headers: { authorization: `Bearer ${options.database.apiKey}`, 'if-none-match': context.etag } };
      },
    };
    // Warm both (JIT, the key cache, prepared statements) before anything is measured.
    await comparedLoad({ server: off, load }, { server: on, load }, 2);
    const [offResult, onResult] = await comparedLoad({ server: off, load }, { server: on, load }, options.durationSeconds);
    const ratio = onResult.throughput / Math.max(offResult.throughput, 1e-9);
    const report = table(
      'rate limits: GET 304',
      `GET /contexts/{id} with If-None-Match, ${options.connections} connections, one tenant; "on": the default limits (concurrency ${options.serverEnv['DATABASE_POOL_SIZE'] ?? '10'} − 2 per tenant, failed authentications) and a tenant rate counted on every request, never reached`,
      [
        { label: 'limits on', measurement: onResult, ratios: { off: ratio } },
        { label: 'limits off', measurement: offResult },
      ],
    );
    return { off: offResult, on: onResult, ratio, report };
  } finally {
    await on.stop();
    await off.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
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
      nodeArgs: ['--max-semi-space-size=4'],
    });
    process.stdout.write(`${cost.report}\n\nThroughput with the limits on: ${cost.ratio.toFixed(3)} of off.\n`);
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
