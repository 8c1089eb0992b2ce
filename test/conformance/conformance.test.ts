// The conformance kit against the real service (every row passes), through its CLI, and through
// a proxy that breaks one promise at a time (the rows that check it fail).
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { runConformance, type ConformanceOptions, type ConformanceReport } from '../../src/conformance/index.ts';
import { withTestServer } from '../helpers/server.ts';
import { startBrokenProxy, type ProxyMode } from './broken-proxy.ts';

const server = withTestServer(test);

async function options(t: ExecutionContext, base = server.base): Promise<ConformanceOptions> {
  const account = await server.tenant.createAccount();
  return {
    base,
    headers: { Authorization: `Bearer ${server.tenant.apiKey}` },
    action: { type: 'deposit', account, amount: 1 },
    otherAction: { type: 'deposit', account, amount: 2 },
    log: (line) => t.log(line),
  };
}

function failedIds(report: ConformanceReport): string[] {
  return report.results.filter((result) => !result.ok).map((result) => result.id);
}

test('against the service every row passes', async (t) => {
  t.timeout(60_000);
  const report = await runConformance(await options(t));
  t.is(report.failed, 0, failedIds(report).join(', '));
  t.is(report.passed, 14);
  t.is(report.results.length, 14);
  t.true(report.results.every((result) => !result.name.includes('weak')));
});

test('without another action the rows that need one run in their weak form, and pass', async (t) => {
  t.timeout(60_000);
  const { otherAction: _unused, ...rest } = await options(t);
  const report = await runConformance(rest);
  t.is(report.failed, 0, failedIds(report).join(', '));
  const weak = report.results.filter((result) => result.name.endsWith('(weak: no --other-action)')).map((result) => result.id);
  t.deepEqual(weak, ['stale-if-match', 'idempotency-key']);
});

test('under a path prefix (http://host/api) every row passes', async (t) => {
  t.timeout(60_000);
  const proxy = await startBrokenProxy(server.base, 'pass', '/api');
  try {
    const report = await runConformance(await options(t, proxy.base));
    t.is(report.failed, 0, failedIds(report).join(', '));
  } finally {
    await proxy.close();
  }
});

// Each broken server fails the rows that check what it breaks; the 404 row and the key-syntax row
// do not depend on replays, tags or keyed one-shots and keep passing: the report points at the fault.
const broken: Record<Exclude<ProxyMode, 'pass'>, string[]> = {
  'replay-409': ['replay', 'create-by-put', 'concurrency', 'idempotency-key'],
  'weak-etag': ['create', 'execute', 'read'],
  'no-etag': ['create', 'execute', 'read'],
  'double-execute': ['replay', 'create-by-put', 'concurrency'],
  'replay-5xx': ['idempotency-key', 'no-5xx'],
};

for (const [mode, expected] of Object.entries(broken) as [ProxyMode, string[]][]) {
  test(`a broken server (${mode}) fails ${expected.join(', ')}`, async (t) => {
    t.timeout(60_000);
    const proxy = await startBrokenProxy(server.base, mode);
    try {
      const report = await runConformance(await options(t, proxy.base));
      const failed = failedIds(report);
      for (const id of expected) t.true(failed.includes(id), `${id} should fail; failed: ${failed.join(', ')}`);
      for (const id of ['not-found', 'malformed-key']) t.false(failed.includes(id), `${id} should pass`);
      t.is(report.failed, failed.length);
      t.is(report.passed + report.failed, 14);
      for (const result of report.results) if (!result.ok) t.truthy(result.detail);
    } finally {
      await proxy.close();
    }
  });
}

test('a server that cannot be reached fails every row with the error, without throwing', async (t) => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const lines: string[] = [];
  const report = await runConformance({ base: `http://127.0.0.1:${port}`, headers: {}, action: { type: 'deposit' }, log: (line) => lines.push(line) });
  // The two run-wide rows hold vacuously: no answer was a 4xx or a 5xx.
  t.is(report.failed, 12);
  t.regex(report.results[0]?.detail ?? '', /POST \/contexts: fetch failed/);
  t.is(lines.at(-1), '2 passed, 12 failed');
  t.true(lines.slice(0, -1).every((line) => /^(ok {3}|FAIL )/.test(line)));
});

test('a request without an answer in time fails its row with the timeout, without throwing', async (t) => {
  t.timeout(30_000);
  const silent = http.createServer(() => undefined); // takes every request, answers none
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const base = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const report = await runConformance({ base, headers: {}, action: { type: 'deposit' }, timeoutMs: 200 });
    t.is(report.failed, 12);
    t.is(report.results[0]?.detail, 'POST /contexts: no answer within 0.2 s');
    t.regex(report.results.find((result) => result.id === 'not-found')?.detail ?? '', /^PUT \/contexts\/[0-9a-f-]{36}: no answer within 0\.2 s$/);
  } finally {
    silent.closeAllConnections();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', 'src/conformance/cli.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the CLI passes against the service: exit code 0, one line per row, then the summary', async (t) => {
  t.timeout(60_000);
  const { base, headers, action, otherAction } = await options(t);
  const run = await cli([
    '--base', base,
    ...Object.entries(headers).flatMap(([name, value]) => ['--header', `${name}: ${value}`]),
    '--action', JSON.stringify(action),
    '--other-action', JSON.stringify(otherAction),
    '--concurrency', '20',
  ]);
  t.log(run.stdout);
  t.is(run.code, 0, run.stderr);
  const lines = run.stdout.trimEnd().split('\n');
  t.is(lines.length, 15);
  t.is(lines.at(-1), '14 passed, 0 failed');
  t.true(lines.slice(0, -1).every((line) => line.startsWith('ok   ')));
  t.true(lines.some((line) => line.startsWith('ok   20 identical PUTs at once')));
});

test('the CLI fails with exit code 1 when a row fails', async (t) => {
  t.timeout(60_000);
  const { action } = await options(t);
  // Without credentials every request is a 401.
  const run = await cli(['--base', server.base, '--action', JSON.stringify(action), '--concurrency', '2']);
  t.is(run.code, 1);
  t.regex(run.stdout, /^FAIL POST \/contexts → 201.*: POST \/contexts: expected 201, got 401 /m);
  t.regex(run.stdout.trimEnd().split('\n').at(-1) ?? '', /^\d+ passed, \d+ failed$/);
});

test('the CLI answers a usage error with exit code 2 and one line, no stack trace', async (t) => {
  for (const args of [
    ['--base', server.base, '--action', '{"type":'],
    ['--base', 'not a url', '--action', '{}'],
    ['--base', server.base],
    ['--base', server.base, '--action', '{}', '--header', 'no colon'],
    ['--base', server.base, '--action', '{}', '--concurrency', '0'],
    ['--base', server.base, '--action', '{}', '--unknown'],
  ]) {
    const run = await cli(args);
    t.is(run.code, 2, args.join(' '));
    t.is(run.stdout, '');
    const lines = run.stderr.trimEnd().split('\n');
    t.is(lines.length, 1, run.stderr);
    t.regex(lines[0] ?? '', /^idempotence-conformance: .+ usage: idempotence-conformance --base <url>/);
    t.notRegex(run.stderr, /\n\s+at /);
  }
  const invalid = await cli(['--base', server.base, '--action', '{"type":']);
  t.regex(invalid.stderr, /--action is not valid JSON/);
});
