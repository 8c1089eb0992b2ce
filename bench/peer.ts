// Keyed POSTs: our one-shot POST /contexts with an Idempotency-Key against the peer
// (express-idempotency + Redis, bench/peer-server.ts), each as a ratio to the same deposit with
// no idempotency at all; then bursts of 50 identical requests at once, counting the effects.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { BenchDatabase } from './database.ts';
import { accountId } from './database.ts';
import { type Measurement } from './load.ts';
import { runPgbench, scriptLine, findPgbench } from './pgbench.ts';
import { startBenchProcess, type BenchProcess } from './processes.ts';
import { table } from './report.ts';
import { comparedLoad, type BenchRun } from './measured-load.ts';

export interface PeerOptions extends BenchRun {
  bare: BenchProcess;
  /** bench/minimal-server.ts: its POST /deposits is the deposit with no idempotency, in one statement. */
  minimal: BenchProcess;
  poolSize: number;
}

const BURSTS = 20;
const BURST_SIZE = 50;
/** Accounts the bursts deposit into: one each, so its entries are the burst's effects. */
const FIRST_BURST_ACCOUNT = 100_001;

function depositBody(accounts: readonly string[]): string {
  const account = accounts[Math.floor(Math.random() * accounts.length)] as string;
  return JSON.stringify({ action: { type: 'deposit', account, amount: 1 } });
}

interface BurstResult {
  /** Bursts whose account received more than one deposit, and how many deposits too many in all. */
  burstsWithDuplicates: number;
  duplicateEffects: number;
  lostBursts: number;
  statuses: Record<string, number>;
}

async function bursts(url: string, path: string, apiKey: string, database: BenchDatabase, offset: number): Promise<BurstResult> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const result: BurstResult = { burstsWithDuplicates: 0, duplicateEffects: 0, lostBursts: 0, statuses: {} };
  try {
    for (let burst = 0; burst < BURSTS; burst++) {
      const account = accountId(FIRST_BURST_ACCOUNT + offset + burst);
      const key = randomUUID();
      const body = JSON.stringify({ action: { type: 'deposit', account, amount: 1 } });
      const replies = await Promise.all(
        Array.from({ length: BURST_SIZE }, () =>
          fetch(`${url}${path}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': key },
            body,
          }).then(async (reply) => {
            await reply.arrayBuffer();
            return reply.status;
          }, () => 0),
        ),
      );
      for (const status of replies) result.statuses[String(status)] = (result.statuses[String(status)] ?? 0) + 1;
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM entries WHERE tenant_id = $1 AND account_id = $2', [database.tenantId, account]);
      const effects = rows[0]?.n ?? 0;
      if (effects > 1) {
        result.burstsWithDuplicates++;
        result.duplicateEffects += effects - 1;
      }
      if (effects === 0) result.lostBursts++;
    }
  } finally {
    await client.end();
  }
  return result;
}

function describeBursts(name: string, result: BurstResult): string {
  const statuses = Object.entries(result.statuses).map(([code, n]) => `${code === '0' ? 'connection error' : code}×${n}`).join(' ');
  return `| ${name} | ${result.duplicateEffects} (in ${result.burstsWithDuplicates} of ${BURSTS} bursts) | ${result.lostBursts} | ${statuses} |`;
}

export async function runPeerComparison(options: PeerOptions): Promise<{ report: string; problems: string[] }> {
  const { api, bare, minimal, database, connections, durationSeconds, poolSize } = options;
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  const burstAccounts = Array.from({ length: 2 * BURSTS }, (_, index) => accountId(FIRST_BURST_ACCOUNT + index));
  await admin.query(
    `INSERT INTO accounts (tenant_id, id, name, currency) SELECT $1, id, 'burst', 'EUR' FROM unnest($2::uuid[]) AS a(id)`,
    [database.tenantId, burstAccounts],
  );
  await admin.end();

  let peer: BenchProcess;
  try {
    peer = await startBenchProcess('peer', 'dist/bench/peer-server.js', [], { ...options.serverEnv, REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379' });
  } catch (error) {
    return { report: `### Keyed POST against a peer\nSkipped: the peer server did not start (is Redis running? set REDIS_URL). ${(error as Error).message.slice(0, 300)}`, problems: [] };
  }
  const problems: string[] = [];
  try {
    const headers = { authorization: `Bearer ${database.apiKey}`, 'content-type': 'application/json' };
    const keyed = (path: string) => ({
      next: () => ({ method: 'POST' as const, path, headers: { ...headers, 'idempotency-key': randomUUID() }, body: depositBody(database.accounts) }),
    });
    const plain = (path: string) => ({ next: () => ({ method: 'POST' as const, path, headers, body: depositBody(database.accounts) }) });
    const [ours, oursBaseline] = await comparedLoad(
      { server: api, load: { connections, ...keyed('/contexts') } },
      { server: bare, load: { connections, ...plain('/deposits') } },
      durationSeconds,
    );
    const [peerKeyed, peerBaseline] = await comparedLoad(
      { server: peer, load: { connections, ...keyed('/keyed/deposits') } },
      { server: peer, load: { connections, ...plain('/deposits') } },
      durationSeconds,
    );
    const [oursAgain, minimalDeposit] = await comparedLoad(
      { server: api, load: { connections, ...keyed('/contexts') } },
      { server: minimal, load: { connections, ...plain('/deposits') } },
      durationSeconds,
    );
    const pgbench = findPgbench();
    let physical: Measurement | undefined;
    if (pgbench) {
      const script = [
        `\\set n random(1, ${database.accounts.length})`,
        'SELECT gen_random_uuid() AS id, gen_random_uuid()::text AS key \\gset c_',
        'begin;',
        scriptLine('claimKey', { key: ':c_key', operation: "'POST /contexts'", context: ':c_id' }),
        scriptLine('insertContext', { context: ':c_id', idempotencyKey: ':c_key' }, 'r_'),
        scriptLine('lockAccounts', { accounts: "ARRAY[('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid]" }),
        scriptLine('postLegs', {
          accounts: "ARRAY[('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid]", amounts: "'{1}'", context: ':c_id', currency: 'NULL', maxBalance: '9007199254740991',
        }),
        scriptLine('recordExecution', { version: '2', expectedVersion: '1', error: 'NULL', context: ':c_id', status: '201' }),
            'commit;',
      ].join('\n');
      physical = await runPgbench({
        pgbench,
        databaseUrl: database.url,
        clients: poolSize,
        durationSeconds,
        script,
        variables: {
          tenant: database.tenantId, ttl: '86400', fingerprint: 'f'.repeat(64), state: 'succeeded', open: 'open',
          action: '{"type":"deposit","amount":1}', result: '{"entries":[]}', body: '{}', eventType: 'context.succeeded', eventId: 'msg_bench', payload: '{}',
        },
      });
    }
    for (const [name, measurement, expected] of [['ours', ours, '201'], ['ours', oursAgain, '201'], ['minimal', minimalDeposit, '201'], ['peer', peerKeyed, '201']] as const) {
      const wrong = Object.keys(measurement.statuses).filter((code) => code !== expected);
      if (wrong.length > 0 || measurement.errors > 0) problems.push(`keyed POST (${name}): answers ${JSON.stringify(measurement.statuses)}, errors ${measurement.errors}`);
    }
    const throughputTable = table(
      'Keyed POST: one deposit per Idempotency-Key',
      'Ours: POST /contexts with an Idempotency-Key and a deposit action. Peer: Express + express-idempotency (Redis adapter) in front of the deposit transaction. Each is compared with the same deposit and no idempotency at all (ours: the bare Koa + pg server; the peer: its own route without the middleware).',
      [
        { label: 'ours (keyed)', measurement: ours, ratios: { 'no idempotency (bare)': ours.throughput / oursBaseline.throughput } },
        { label: 'bare Koa + pg, no idempotency', measurement: oursBaseline },
        { label: 'ours (keyed), again', measurement: oursAgain, ratios: { 'minimal, no idempotency': oursAgain.throughput / minimalDeposit.throughput } },
        { label: 'minimal node:http + pg, no idempotency', measurement: minimalDeposit },
        { label: 'peer (keyed)', measurement: peerKeyed, ratios: { 'no idempotency (peer)': peerKeyed.throughput / peerBaseline.throughput } },
        { label: 'peer, no idempotency', measurement: peerBaseline },
        ...(physical ? [{ label: 'pgbench (our keyed transaction)', measurement: physical }] : []),
      ],
    );

    const ourBursts = await bursts(api.url, '/contexts', database.apiKey, database, 0);
    const peerBursts = await bursts(peer.url, '/keyed/deposits', database.apiKey, database, BURSTS);
    if (ourBursts.duplicateEffects > 0 || ourBursts.lostBursts > 0) problems.push(`our bursts: ${JSON.stringify(ourBursts)}`);
    if (Object.keys(ourBursts.statuses).some((code) => !code.startsWith('2'))) problems.push(`our bursts answered ${JSON.stringify(ourBursts.statuses)}`);
    const burstTable = [
      `### Concurrent retries: ${BURSTS} bursts of ${BURST_SIZE} identical keyed deposits sent at once`,
      '',
      '| | duplicate effects | bursts with no effect | answers |',
      '|---|---|---|---|',
      describeBursts('ours', ourBursts),
      describeBursts('peer (express-idempotency + Redis)', peerBursts),
    ].join('\n');
    const verdict = (met: boolean): string => (met ? 'met' : 'missed');
    const versusPeer = ours.throughput / Math.max(peerKeyed.throughput, 1);
    const versusMinimal = oursAgain.throughput / Math.max(minimalDeposit.throughput, 1);
    const targets = [
      `Target ours ≥ peer (keyed): ${versusPeer.toFixed(2)} × — ${verdict(versusPeer >= 1)}.`,
      `Target 0 duplicate effects in ${BURSTS} bursts of ${BURST_SIZE}: ${ourBursts.duplicateEffects} — ${verdict(ourBursts.duplicateEffects === 0 && ourBursts.lostBursts === 0)}.`,
      `Target ours (keyed) / minimal deposit without idempotency ≥ 0.8: ${versusMinimal.toFixed(2)} — ${verdict(versusMinimal >= 0.8)}.`,
    ].join('\n');
    return { report: `${throughputTable}\n\n${burstTable}\n\n${targets}`, problems };
  } finally {
    await peer.stop();
  }
}
