// The service with OTEL_TRACES_EXPORTER=otlp (role `all`: API, worker and processor in one
// process) sends its spans as OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces — here
// a stand-in collector — and flushes them on SIGTERM: the payment's trace arrives whole.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { createTestDatabase } from '../helpers/database.ts';
import { at, send } from '../helpers/server.ts';

interface Export {
  path: string;
  type: string;
  body: Buffer;
}

test('OTEL_TRACES_EXPORTER=otlp: the payment\'s spans reach the collector, under the service\'s name, by shutdown', async (t) => {
  t.timeout(60_000);
  const exports: Export[] = [];
  const collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      exports.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => collector.close(() => resolve())));
  const database = await createTestDatabase(2);
  t.teardown(() => database.drop());
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'idem-otel-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));

  const child = spawn(process.execPath, ['--import=tsx', 'src/main.ts', 'all'], {
    env: {
      ...process.env, DATABASE_URL: database.url, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn', PROCESSOR_PORT: '',
      OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 30_000;
  while (!/Dev API key \(tenant "dev"\): \S+\n/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no start-up banner:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const base = /listening on (http:\/\/\S+)/.exec(output)?.[1] ?? '';
  const key = /Dev API key \(tenant "dev"\): (\S+)/.exec(output)?.[1] ?? '';

  const account = await send(base, 'POST', '/accounts', { key, body: { name: 'Alice', currency: 'EUR' } });
  const id = crypto.randomUUID();
  const accepted = await send(base, 'PUT', `/contexts/${id}`, {
    key,
    headers: { 'if-none-match': '*' },
    body: { action: { type: 'payment', account: at(account.json, 'id'), amount: 250, source: 'tok_ok' } },
  });
  t.is(accepted.status, 202, accepted.text);
  const done = await send(base, 'GET', `/contexts/${id}`, { key, headers: { prefer: 'wait=20', 'if-none-match': '"2"' } });
  t.is(at(done.json, 'state'), 'succeeded', `${done.status} ${done.text}\n${output}`);
  const stored = await database.pool.query<{ trace_parent: string | null }>('SELECT trace_parent FROM contexts WHERE id = $1', [id]);
  const traceId = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/.exec(stored.rows[0]?.trace_parent ?? '')?.[1];
  if (!traceId) return t.fail(`no traceparent stored: ${JSON.stringify(stored.rows)}`);

  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  t.is(await exited, 0, output);

  t.true(exports.length > 0, 'the batch was sent, at the latest on shutdown');
  for (const sent of exports) t.like(sent, { path: '/v1/traces', type: 'application/x-protobuf' });
  const body = Buffer.concat(exports.map((sent) => sent.body));
  for (const text of ['idempotence-service', 'PUT /contexts/:id', 'job payment', 'phase charge', 'POST /charges', 'phase credit']) {
    t.true(body.includes(text), `"${text}" was exported`);
  }
  t.true(body.includes(Buffer.from(traceId, 'hex')), 'the stored traceparent names an exported trace');
  t.false(body.includes(key), 'the API key is in no span');
  t.false(body.includes('tok_ok'), 'nor is the card source');
});
