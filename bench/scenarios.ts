// The benchmarked workloads: each is the same HTTP requests for our service and the bare
// server, and the same statements for pgbench.
import { randomUUID } from 'node:crypto';
import type { BenchDatabase } from './database.ts';
import { ACCOUNT_COUNT } from './database.ts';
import type { HttpRequestSpec, LoadOptions } from './load.ts';
import { accountExpression, scriptLine } from './pgbench.ts';

/** A context executed during set-up: what the read and replay workloads ask for. */
export interface ExecutedContext {
  id: string;
  body: string;
  etag: string;
}

export interface Fixtures {
  database: BenchDatabase;
  executed: ExecutedContext[];
  /** A representative recorded answer (for pgbench's UPDATE of response_body). */
  sampleBody: string;
}

export interface Scenario {
  name: string;
  /** What one operation is, for the table's heading. */
  operation: string;
  /** Status codes a correct answer has; anything else is reported. */
  expect: string[];
  load: (fixtures: Fixtures) => Omit<LoadOptions, 'url' | 'connections' | 'durationSeconds'>;
  /** The pgbench script of one operation and its string variables. */
  pgbench: (fixtures: Fixtures) => { script: string; variables: Record<string, string> };
}

const json = { 'content-type': 'application/json' };
const auth = (fixtures: Fixtures): Record<string, string> => ({ authorization: `Bearer ${fixtures.database.apiKey}` });
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;

function randomPair(accounts: readonly string[]): [string, string] {
  const from = Math.floor(Math.random() * accounts.length);
  const to = (from + 1 + Math.floor(Math.random() * (accounts.length - 1))) % accounts.length;
  return [accounts[from] as string, accounts[to] as string];
}

function transfer(from: string, to: string): string {
  return JSON.stringify({ action: { type: 'transfer', from, to, amount: 1 } });
}

function baseVariables(fixtures: Fixtures): Record<string, string> {
  return {
    keyHash: `\\x${fixtures.database.apiKeyHash.toString('hex')}`,
    tenant: fixtures.database.tenantId,
    ttl: '86400',
    body: fixtures.sampleBody,
    action: '{"type":"transfer","amount":1}',
    result: '{"entries":[]}',
    fingerprint: 'f'.repeat(64),
    state: 'succeeded',
    open: 'open',
    eventType: 'context.succeeded',
    eventId: 'msg_bench',
    payload: '{}',
    status: '200',
  };
}

/** The statements of one execution of a transfer on a context this transaction holds as :c_id. */
function transferStatements(hot: boolean): string[] {
  // pgbench variables are numbers or -D strings: the accounts are array literals built in SQL.
  const accounts = hot ? `ARRAY[:from, :to]::uuid[]` : `ARRAY[${accountExpression('i')}, ${accountExpression('j')}]`;
  return [
    scriptLine('lockAccounts', { accounts }),
    scriptLine('postLegs', { accounts, amounts: "'{-1,1}'", context: ':c_id', currency: 'NULL', maxBalance: '9007199254740991' }),
    scriptLine('recordExecution', { version: '2', expectedVersion: '1', error: 'NULL', context: ':c_id' }),
  ];
}

const RANDOM_PAIR = [`\\set i random(1, ${ACCOUNT_COUNT})`, `\\set j 1 + (:i + random(0, ${ACCOUNT_COUNT - 2})) % ${ACCOUNT_COUNT}`];

function oneShotTransfer(name: string, hot: boolean): Scenario {
  return {
    name,
    operation: hot
      ? 'PUT /contexts/{new id}, If-None-Match: *, transfer between the same two accounts'
      : `PUT /contexts/{new id}, If-None-Match: *, transfer between two of ${ACCOUNT_COUNT} accounts`,
    expect: ['201'],
    load: (fixtures) => ({
      next: () => {
        const [from, to] = hot ? [fixtures.database.accounts[0] as string, fixtures.database.accounts[1] as string] : randomPair(fixtures.database.accounts);
        return { method: 'PUT', path: `/contexts/${randomUUID()}`, headers: { ...auth(fixtures), ...json, 'if-none-match': '*' }, body: transfer(from, to) };
      },
    }),
    pgbench: (fixtures) => ({
      script: [
        ...(hot ? [] : RANDOM_PAIR),
        'SELECT gen_random_uuid() AS id \\gset c_',
        scriptLine('findContext', { context: ':c_id' }),
        'begin;',
        scriptLine('insertContext', { context: ':c_id', idempotencyKey: 'NULL' }, 'r_'),
        ...transferStatements(hot),
        'commit;',
      ].join('\n'),
      variables: { ...baseVariables(fixtures), from: fixtures.database.accounts[0] as string, to: fixtures.database.accounts[1] as string },
    }),
  };
}

const createThenExecute: Scenario = {
  name: 'create then execute',
  operation: `POST /contexts, then PUT it with If-Match: a transfer between two of ${ACCOUNT_COUNT} accounts (one operation = both)`,
  expect: ['201', '200'],
  load: (fixtures) => ({
    requestsPerOperation: 2,
    next: () => ({ method: 'POST', path: '/contexts', headers: auth(fixtures) }),
    onFirstResponse: (_status, _body, headers, context) => {
      context['location'] = headers['location'];
      context['etag'] = headers['etag'];
    },
    then: (context): HttpRequestSpec => {
      const [from, to] = randomPair(fixtures.database.accounts);
      return {
        method: 'PUT',
        path: String(context['location']),
        headers: { ...auth(fixtures), ...json, 'if-match': String(context['etag']) },
        body: transfer(from, to),
      };
    },
  }),
  pgbench: (fixtures) => ({
    script: [
      ...RANDOM_PAIR,
      'SELECT gen_random_uuid() AS id \\gset c_',
      'begin;',
      scriptLine('insertContext', { context: ':c_id', idempotencyKey: 'NULL' }, 'r_'),
      'commit;',
      scriptLine('findContext', { context: ':c_id' }),
      'begin;',
      scriptLine('lockContext', { context: ':c_id' }),
      ...transferStatements(false),
      'commit;',
    ].join('\n'),
    variables: baseVariables(fixtures),
  }),
};

function readScenario(name: string, operation: string, expect: string, request: (context: ExecutedContext, fixtures: Fixtures) => HttpRequestSpec): Scenario {
  return {
    name,
    operation,
    expect: [expect],
    load: (fixtures) => ({ next: () => request(pick(fixtures.executed), fixtures) }),
    pgbench: (fixtures) => ({
      script: scriptLine('findContext', { context: ':context' }),
      variables: { ...baseVariables(fixtures), context: fixtures.executed[0]?.id ?? randomUUID() },
    }),
  };
}

export const replayScenario = readScenario(
  'replay',
  'the same PUT (If-None-Match: *) again on an executed context: answered from the record',
  '200',
  (context, fixtures) => ({ method: 'PUT', path: `/contexts/${context.id}`, headers: { ...auth(fixtures), ...json, 'if-none-match': '*' }, body: context.body }),
);

export const scenarios: Scenario[] = [
  oneShotTransfer('one-shot transfer, hot rows', true),
  oneShotTransfer('one-shot transfer, many accounts', false),
  createThenExecute,
  replayScenario,
  readScenario('GET 304', 'GET /contexts/{id} with If-None-Match: its current ETag', '304', (context, fixtures) => ({
    method: 'GET',
    path: `/contexts/${context.id}`,
    headers: { ...auth(fixtures), 'if-none-match': context.etag },
  })),
  readScenario('GET 200', 'GET /contexts/{id}', '200', (context, fixtures) => ({ method: 'GET', path: `/contexts/${context.id}`, headers: auth(fixtures) })),
  {
    name: 'list page',
    operation: 'GET /contexts?limit=20 (newest first)',
    expect: ['200'],
    load: (fixtures) => ({ next: () => ({ method: 'GET', path: '/contexts?limit=20', headers: auth(fixtures) }) }),
    pgbench: (fixtures) => ({
      script: scriptLine('listContexts', { limit: '21' }),
      variables: baseVariables(fixtures),
    }),
  },
];
