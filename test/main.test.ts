// `src/main.ts all` as `npm start` runs it: migrates, creates the dev tenant, prints a URL, a key
// and a curl line that works.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { createTestDatabase } from './helpers/database.ts';
import { at, send } from './helpers/server.ts';

test('npm start prints a URL, a dev key, a curl line that works and the operator console; a second start prints the same key', async (t) => {
  const database = await createTestDatabase(1);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'idem-main-'));
  const start = async (): Promise<{ base: string; key: string; curl: string; stop: () => Promise<void>; output: () => string }> => {
    const child = spawn(process.execPath, ['--import=tsx', 'src/main.ts', 'all'], {
      env: { ...process.env, DATABASE_URL: database.url, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn', PROCESSOR_PORT: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A failed assertion must not leave the service running (it would hold the test run open).
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 30_000;
    while (!/-d '.*'\n/.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no start-up banner:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const base = /listening on (http:\/\/\S+)/.exec(output)?.[1] ?? '';
    const key = /Dev API key \(tenant "dev"\): (\S+)/.exec(output)?.[1] ?? '';
    // The curl line: from `curl ` to the end of its `-d '…'` line (the console's lines follow it).
    const curlStart = output.indexOf('curl ');
    const curl = output.slice(curlStart, output.indexOf("'\n", output.indexOf(" -d '", curlStart)) + 1).replace(/\\\n\s*/g, '').trim();
    const stop = async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    };
    return { base, key, curl, stop, output: () => output };
  };
  // A second dev server on 3001 (the simulator's old fixed port) must not matter.
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.once('error', () => resolve()).listen(3001, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  try {
    const first = await start();
    t.regex(first.base, /^http:\/\/127\.0\.0\.1:\d+$/);
    t.regex(first.key, /^idem_/);
    const ran = await new Promise<string>((resolve, reject) => {
      const shell = spawn('bash', ['-c', first.curl], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      shell.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      shell.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`curl exited ${code}`))));
    });
    t.like(JSON.parse(ran), { name: 'Alice', currency: 'EUR', balance: 0 });
    t.is((await send(first.base, 'GET', '/readyz')).status, 200);
    // `all` runs the worker and the processor simulator too: a card payment completes.
    const account = (JSON.parse(ran) as { id: string }).id;
    const id = crypto.randomUUID();
    const accepted = await send(first.base, 'PUT', `/contexts/${id}`, {
      key: first.key,
      headers: { 'if-none-match': '*' },
      body: { action: { type: 'payment', account, amount: 250, source: 'tok_ok' } },
    });
    t.is(accepted.status, 202);
    const done = await send(first.base, 'GET', `/contexts/${id}`, { key: first.key, headers: { prefer: 'wait=20', 'if-none-match': '"2"' } });
    t.is(at(done.json, 'state'), 'succeeded', `${done.status} ${done.text}\n${first.output()}`);
    // `npm run reconcile` beside it finds the simulator on its any-free port, and finds nothing amiss.
    const reconciled = spawnSync(process.execPath, ['--import=tsx', 'src/reconcile-cli.ts'], {
      env: { ...process.env, DATABASE_URL: database.url, DATA_DIR: dataDir, PROCESSOR_PORT: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    t.is(reconciled.status, 0, reconciled.stdout + reconciled.stderr);
    t.regex(reconciled.stdout, /unresolved: 0/);
    // The operator console's address, with a development admin token that works for the admin API.
    const consoleUrl = /Operator console: (\S+)/.exec(first.output())?.[1] ?? '';
    const adminToken = /Admin token \(ADMIN_TOKEN, made for development\): (\S+)/.exec(first.output())?.[1] ?? '';
    t.is(consoleUrl, `${first.base}/console#token=${adminToken}`);
    t.is((await send(first.base, 'GET', '/console')).status, 200);
    const found = await send(first.base, 'GET', `/admin/contexts?id=${id}`, { key: adminToken });
    t.is(at(found.json, 'items', 0, 'state'), 'succeeded', found.text);
    t.is((await send(first.base, 'GET', `/admin/contexts?id=${id}`, { key: first.key })).status, 401, 'a tenant key is not an admin token');
    t.notRegex(first.output(), /Warning|MaxListeners|\n\s+at /, `a newcomer's first screen has no warning or stack trace:\n${first.output()}`);
    await first.stop();
    const second = await start();
    t.is(second.key, first.key, 'the dev key survives a restart');
    t.true(second.output().includes(`#token=${adminToken}`), 'so does the admin token');
    t.is((await send(second.base, 'GET', '/accounts', { key: second.key })).status, 200);
    await second.stop();
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await database.drop();
  }
});

test('a port that is taken is one line naming the variable that moves it, no stack trace', async (t) => {
  const database = await createTestDatabase(1);
  t.teardown(() => database.drop());
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as net.AddressInfo).port;
  const result = spawnSync(process.execPath, ['--import=tsx', 'src/main.ts', 'api'], {
    env: { ...process.env, DATABASE_URL: database.url, PORT: String(port), LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(result.status, 1);
  t.is(result.stderr.trim(), `Port ${port} on 127.0.0.1 is taken: set PORT to another port (0 for any free one).`);
});

test('a taken port of the embedded Postgres is one line too', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as net.AddressInfo).port;
  const { DATABASE_URL: _unset, ...env } = process.env;
  const result = spawnSync(process.execPath, ['--import=tsx', 'src/main.ts', 'all'], {
    env: { ...env, EMBEDDED_POSTGRES_PORT: String(port), PORT: '0', LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(result.status, 1);
  t.is(result.stderr.trim(), `Port ${port} on 127.0.0.1 is taken: set EMBEDDED_POSTGRES_PORT to another port.`);
});
