// The chaos harness: a mixed money-moving load through real HTTP against two API processes and
// two worker processes on one Postgres, with clients that retry everything, while faults are
// injected: SIGKILL of APIs and workers, processor faults, dropped client connections, killed
// database backends and (with an embedded Postgres) database restarts. Afterwards it checks the
// invariants against the database and the processor, and reports them as figures.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createPool } from '../../src/db/database.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { startProcessor, type RunningProcessor } from '../../src/processor/server.ts';
import { RetryingClient, type Answer } from './client.ts';
import { freePort } from '../free-port.ts';
import { ManagedProcess } from './processes.ts';
import { requirePgBouncer } from '../pgbouncer.ts';
import { Failover, type FailoverOptions } from './failover.ts';

export interface ChaosOptions {
  seconds: number;
  clients: number;
  /** Postgres server to create the chaos database on; unset: an embedded one (restartable). */
  serverUrl?: string;
  /** Instead of the round robin of faults: a primary and a standby behind a relay, failed over mid-load (failover.ts). */
  failover?: FailoverOptions;
  log?: (line: string) => void;
  /** The services reach Postgres through PgBouncer in transaction mode, with their defaults otherwise. */
  pooler?: boolean;
}

type Kind = 'deposit-oneshot' | 'deposit-put' | 'transfer' | 'payment';

interface Operation {
  id: string; // the context id, or the Idempotency-Key of a one-shot
  kind: Kind;
  amount: number;
  source?: string;
  answer?: Answer;
  /** When the client was first told something that must last (a create-then-PUT: the create). */
  acknowledgedAt?: number;
}

export interface ChaosReport {
  lines: string[];
  duplicates: number;
  lost: number;
  ok: boolean;
}

const ADMIN_TOKEN = 'chaos-admin-token-0123456789';
const ACCOUNTS = 6;

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  // A run that fails half-way must not leave service processes, a listening simulator or
  // database servers behind (they would keep the caller, a test worker, alive for ever).
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    return await run(options, cleanups);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

async function run(options: ChaosOptions, cleanups: (() => Promise<unknown>)[]): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  let embedded: EmbeddedServer | undefined;
  let embeddedDir: string | undefined;
  const failover = options.failover ? await Failover.start(options.failover, log) : undefined;
  if (failover) cleanups.push(() => failover.stop());
  let serverUrl = failover?.serverUrl ?? options.serverUrl;
  if (!serverUrl) {
    embeddedDir = await mkdtemp(path.join(os.tmpdir(), 'idem-chaos-'));
    await import('node:fs/promises').then((fs) => fs.chmod(embeddedDir ?? '', 0o755));
    embedded = await startEmbeddedPostgres({ dataDir: path.join(embeddedDir, 'data'), port: await freePort(), persistent: true });
    serverUrl = embedded.url;
    const started = embedded;
    cleanups.push(() => started.stop());
  }
  const dbName = `idem_chaos_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  const pool = createPool(databaseUrl, 4);
  cleanups.push(async () => pool.ended || pool.end());
  await migrate(pool);

  const processor: RunningProcessor = await startProcessor({ databaseUrl, port: 0 });
  cleanups.push(() => processor.close());
  processor.faults.hangMs = 1_500;
  const apiPorts = [await freePort(), await freePort()];
  const pooler = options.pooler ? await requirePgBouncer(serverUrl) : undefined;
  if (pooler) cleanups.push(() => pooler.stop());
  const common = { DATABASE_URL: pooler ? pooler.through(databaseUrl) : databaseUrl, ADMIN_TOKEN, PROCESSOR_URL: processor.url, PROCESSOR_TIMEOUT_MS: '700', WORKER_LEASE_SECONDS: '2', DATABASE_POOL_SIZE: '8' };
  const apis = apiPorts.map((port, i) => new ManagedProcess(`api-${i + 1}`, 'api', { ...common, PORT: String(port), HOST: '127.0.0.1' }, port));
  const workers = [1, 2].map((i) => new ManagedProcess(`worker-${i}`, 'worker', { ...common, WORKER_MAX_ATTEMPTS: '1000' }));
  cleanups.push(() => Promise.all([...apis, ...workers].map((process) => process.stop())));
  await Promise.all([...apis, ...workers].map((process) => process.start()));
  const bases = () => {
    const up = apis.filter((api) => api.running).map((api) => `http://127.0.0.1:${api.port}`);
    return up.length > 0 ? up : apiPorts.map((port) => `http://127.0.0.1:${port}`);
  };

  const tenantReply = await fetch(`${bases()[0]}/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'chaos' }),
  });
  const { apiKey } = (await tenantReply.json()) as { apiKey: string };
  const loadEnds = Date.now() + options.seconds * 1000;
  const giveUpAt = loadEnds + 120_000;
  const client = new RetryingClient(bases, apiKey, { timeoutMs: 3_000, dropRate: 0.05, deadline: () => giveUpAt, ...(failover ? { onAnswer: failover.observe } : {}) });
  const accounts: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const answer = await client.send('POST', '/accounts', { 'idempotency-key': `account-${i}` }, { name: `chaos ${i}`, currency: 'EUR' });
    accounts.push((answer.body as { id: string }).id);
  }

  const operations: Operation[] = [];
  const faults = { apiKills: 0, workerKills: 0, backendKills: 0, postgresRestarts: 0, processorFaultWindows: 0 };

  const runOperation = async (operation: Operation): Promise<void> => {
    const account = pick(accounts);
    switch (operation.kind) {
      case 'deposit-oneshot':
        operation.answer = await client.send('POST', '/contexts', { 'idempotency-key': operation.id }, { action: { type: 'deposit', account, amount: operation.amount } });
        return;
      case 'deposit-put': {
        const created = await client.send('POST', '/contexts', { 'idempotency-key': `create-${operation.id}` }, {});
        const id = (created.body as { id: string }).id;
        operation.id = id;
        operation.acknowledgedAt = created.at;
        operation.answer = await client.send('PUT', `/contexts/${id}`, { 'if-match': '"1"' }, { action: { type: 'deposit', account, amount: operation.amount } });
        return;
      }
      case 'transfer': {
        const from = pick(accounts);
        const to = pick(accounts.filter((candidate) => candidate !== from));
        operation.answer = await client.send('PUT', `/contexts/${operation.id}`, { 'if-none-match': '*' }, { action: { type: 'transfer', from, to, amount: operation.amount } });
        return;
      }
      case 'payment':
        operation.answer = await client.send('PUT', `/contexts/${operation.id}`, { 'if-none-match': '*' }, {
          action: { type: 'payment', account, amount: operation.amount, source: operation.source ?? 'tok_ok' },
        });
    }
  };

  const loads = Array.from({ length: options.clients }, async () => {
    while (Date.now() < loadEnds) {
      const roll = Math.random();
      const kind: Kind = roll < 0.3 ? 'deposit-oneshot' : roll < 0.4 ? 'deposit-put' : roll < 0.7 ? 'transfer' : 'payment';
      const operation: Operation = { id: randomUUID(), kind, amount: 1 + Math.floor(Math.random() * 500) };
      if (kind === 'payment') operation.source = Math.random() < 0.15 ? 'tok_declined' : 'tok_ok';
      operations.push(operation);
      await runOperation(operation);
      if (operation.answer && operation.answer.status < 300) operation.acknowledgedAt ??= operation.answer.at;
    }
  });

  const injector = failover ? failover.inject(loadEnds - options.seconds * 600, log) : (async () => {
    await sleep(500);
    // Round robin over the kinds of fault, so even a short run meets each of them.
    const kinds = embedded ? [4, 0, 1, 2, 5, 3] : [4, 0, 1, 2, 3];
    let step = 0;
    while (Date.now() < loadEnds - 500) {
      const fault = kinds[step++ % kinds.length] ?? 0;
      try {
        if (fault === 0) {
          const api = pick(apis);
          await api.kill();
          faults.apiKills++;
          await sleep(200 + Math.random() * 500);
          await api.start();
        } else if (fault === 1) {
          const worker = pick(workers);
          await worker.kill();
          faults.workerKills++;
          await sleep(200 + Math.random() * 800);
          await worker.start();
        } else if (fault === 2 || fault === 3) {
          faults.processorFaultWindows++;
          Object.assign(processor.faults, fault === 2 ? { failAfterChargeRate: 0.4 } : { timeoutAfterChargeRate: 0.3, refuseBeforeChargeRate: 0.2 });
          await sleep(700 + Math.random() * 800);
          Object.assign(processor.faults, { failAfterChargeRate: 0, timeoutAfterChargeRate: 0, refuseBeforeChargeRate: 0 });
        } else if (fault === 4) {
          const killer = new pg.Client({ connectionString: databaseUrl });
          killer.on('error', () => undefined);
          await killer.connect();
          const { rowCount } = await killer.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
          await killer.end();
          faults.backendKills += rowCount ?? 0;
        } else if (embedded) {
          await embedded.restart();
          faults.postgresRestarts++;
        }
      } catch (error) {
        log(`fault injection step failed: ${(error as Error).message}`);
      }
      await sleep(300 + Math.random() * 700);
    }
  })();

  await Promise.all([...loads, injector]);
  Object.assign(processor.faults, { failAfterChargeRate: 0, timeoutAfterChargeRate: 0, refuseBeforeChargeRate: 0 });
  for (const process of [...apis, ...workers]) if (!process.running) await process.start();
  log(`load over: ${operations.length} operations; draining`);

  // Drain: every accepted payment must reach a final state.
  let processing = -1;
  const drainUntil = Date.now() + 90_000;
  while (Date.now() < drainUntil) {
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM contexts WHERE state = 'processing'");
    processing = rows[0].n;
    if (processing === 0) break;
    await sleep(250);
  }
  await Promise.all([...apis, ...workers].map((process) => process.stop()));
  await processor.close();

  // Invariants, from the database and the processor.
  const contexts = new Map<string, { state: string; entries: number; key: string | null; amount: number }>();
  const { rows: contextRows } = await pool.query(
    `SELECT c.id, c.state, c.idempotency_key AS key,
            (SELECT count(*)::int FROM entries e WHERE e.tenant_id = c.tenant_id AND e.context_id = c.id) AS entries,
            coalesce((c.action->>'amount')::bigint, 0) AS amount
       FROM contexts c`,
  );
  const byKey = new Map<string, number>();
  for (const row of contextRows) {
    contexts.set(row.id, { state: row.state, entries: row.entries, key: row.key, amount: Number(row.amount) });
    if (row.key) byKey.set(row.key, (byKey.get(row.key) ?? 0) + 1);
  }
  const oneShotIds = new Map<string, string>();
  for (const row of contextRows) if (row.key) oneShotIds.set(row.key, row.id);

  const expectedEntries = (kind: Kind, state: string): number => {
    if (state !== 'succeeded') return 0;
    return kind === 'transfer' ? 2 : 1;
  };
  let duplicates = 0;
  let lost = 0;
  const lostAcknowledgedAt: number[] = [];
  const lose = (operation: Operation, count = 1) => {
    lost += count;
    if (operation.acknowledgedAt !== undefined) lostAcknowledgedAt.push(operation.acknowledgedAt);
  };
  let acknowledged = 0;
  let unanswered = 0;
  let effectsExpected = 0;
  let effectsApplied = 0;
  let depositsSucceeded = 0;
  let paymentsSucceeded = 0;
  let paymentCount = 0;
  for (const operation of operations) {
    if (!operation.answer) {
      unanswered++;
      continue;
    }
    // The acknowledged creation of the context is gone (a failover without the standby having it).
    if (operation.kind === 'deposit-put' && operation.answer.status === 404) {
      lose(operation);
      continue;
    }
    if (operation.answer.status >= 400) continue; // refused: nothing was promised
    acknowledged++;
    const contextId = operation.kind === 'deposit-oneshot' ? oneShotIds.get(operation.id) : operation.id;
    const context = contextId ? contexts.get(contextId) : undefined;
    if (!context) {
      lose(operation);
      continue;
    }
    const acknowledgedState = (operation.answer.body as { state?: string } | undefined)?.state;
    if ((acknowledgedState === 'succeeded' || acknowledgedState === 'failed') && context.state !== acknowledgedState) lose(operation);
    const expected = expectedEntries(operation.kind, context.state);
    effectsExpected += expected;
    effectsApplied += context.entries;
    if (context.entries > expected) duplicates += context.entries - expected;
    if (context.entries < expected) lose(operation, expected - context.entries);
    if (context.state === 'succeeded' && operation.kind.startsWith('deposit')) depositsSucceeded += context.amount;
    if (operation.kind === 'payment') paymentCount++;
  }
  for (const count of byKey.values()) if (count > 1) duplicates += count - 1;

  // Across everything in the database, not only what the clients saw.
  const { rows: ledger } = await pool.query(
    `SELECT (SELECT coalesce(sum(balance), 0)::bigint FROM accounts) AS balances,
            (SELECT coalesce(sum(e.amount), 0)::bigint FROM entries e JOIN contexts c ON c.tenant_id = e.tenant_id AND c.id = e.context_id
              WHERE c.action->>'type' IN ('deposit', 'payment')) AS inflows,
            (SELECT count(*)::int FROM accounts a WHERE balance <> (SELECT coalesce(sum(amount), 0) FROM entries e WHERE e.tenant_id = a.tenant_id AND e.account_id = a.id)) AS drifted,
            (SELECT coalesce(sum(p.amount), 0)::bigint FROM payments p JOIN contexts c ON c.tenant_id = p.tenant_id AND c.id = p.context_id WHERE c.state = 'succeeded') AS paid,
            (SELECT count(*)::int FROM payments p JOIN contexts c ON c.tenant_id = p.tenant_id AND c.id = p.context_id WHERE c.state = 'succeeded') AS succeeded_payments,
            (SELECT count(*)::int FROM processor.charges WHERE status = 'succeeded') AS charges,
            (SELECT count(*)::int FROM (SELECT idempotency_key FROM processor.charges GROUP BY 1 HAVING count(*) > 1) d) AS double_charges,
            (SELECT count(*)::int FROM contexts WHERE state = 'processing') AS processing,
            (SELECT coalesce(sum((action->>'amount')::bigint), 0)::bigint FROM contexts WHERE state = 'succeeded' AND action->>'type' = 'deposit') AS deposited`,
  );
  const figures = ledger[0];
  paymentsSucceeded = Number(figures.paid);
  duplicates += figures.double_charges;
  const ledgerHolds = Number(figures.balances) === Number(figures.deposited) + paymentsSucceeded && figures.drifted === 0;
  const chargesHold = figures.charges === figures.succeeded_payments;
  const status500 = client.stats.status5xx[500] ?? 0;
  const crashes = [...apis, ...workers].reduce((sum, process) => sum + process.crashes, 0);

  await pool.end();
  const drop = new pg.Client({ connectionString: serverUrl });
  await drop.connect();
  await drop.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await drop.end();
  await embedded?.stop();
  await failover?.stop();
  if (embeddedDir) await rm(embeddedDir, { recursive: true, force: true });

  const lines = [
    `chaos: ${options.seconds} s of load, ${options.clients} clients, 2 API processes, 2 workers, ${embedded ? 'embedded' : failover ? 'a primary failed over to its standby' : 'shared'} Postgres${pooler ? ' through PgBouncer (transaction mode)' : ''}`,
    `requests sent: ${client.stats.attempts} (operations ${operations.length}, acknowledged ${acknowledged}, unanswered ${unanswered}; payments ${paymentCount}; deposits succeeded ${depositsSucceeded} minor units)`,
    `faults injected: ${faults.apiKills} API kills, ${faults.workerKills} worker kills, ${faults.backendKills} database backends terminated, ${faults.postgresRestarts} Postgres restarts, ${faults.processorFaultWindows} processor fault windows, ${client.stats.dropped} dropped client connections, ${client.stats.networkErrors} network errors`,
    `5xx answers seen by clients: ${JSON.stringify(client.stats.status5xx)} (500s must be 0: ${status500 === 0 ? 'holds' : 'FAILS'})`,
    ...(status500 === 0 ? [] : apis.flatMap((api) => api.errors.map((line) => `  ${api.name} logged: ${line}`))),
    `processes that died by themselves: ${crashes} (must be 0: ${crashes === 0 ? 'holds' : 'FAILS'})`,
    `effects expected: ${effectsExpected}, effects applied: ${effectsApplied}`,
    `contexts left non-terminal: ${figures.processing} (must be 0)`,
    `ledger sum = deposits + charges: ${figures.balances} = ${figures.deposited} + ${paymentsSucceeded} (${ledgerHolds ? 'holds' : 'FAILS'}; accounts whose balance differs from their entries: ${figures.drifted})`,
    `processor charges = succeeded payments: ${figures.charges} = ${figures.succeeded_payments} (${chargesHold ? 'holds' : 'FAILS'})`,
    ...(failover?.lines(operations.flatMap((operation) => operation.acknowledgedAt ?? []), lostAcknowledgedAt) ?? []),
    `duplicates: ${duplicates}`,
    `lost: ${lost}`,
  ];
  const ok = crashes === 0 && duplicates === 0 && lost === 0 && unanswered === 0 && figures.processing === 0 && ledgerHolds && chargesHold && status500 === 0 && processing === 0 && (!failover || failover.recovered);
  return { lines, duplicates, lost, ok };
}
