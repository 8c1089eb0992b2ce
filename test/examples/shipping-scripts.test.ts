// The example as its users start it: `npm run example:shipping:provider`, `…:api` and two
// `…:worker` processes, configured only by their environment, with provider faults on.
import { spawn, type ChildProcess } from 'node:child_process';
import test from 'ava';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { listeningUrl } from '../helpers/child-url.ts';
import { at, send } from '../helpers/server.ts';

const API_KEY = 'scripts-test-key-0123456789';
const children: ChildProcess[] = [];
let database: TestDatabase | undefined;

function start(script: string, env: Record<string, string>): { child: ChildProcess; url: Promise<string> } {
  const child = spawn('npm', ['run', '--silent', script], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return { child, url: listeningUrl(child, script) }; // workers print none: only awaited URLs count
}

test.after.always(async () => {
  for (const child of children) {
    if (child.exitCode !== null || !child.pid) continue;
    try {
      process.kill(child.spawnargs[0] === 'npm' ? -child.pid : child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await database?.drop();
});

test('npm run example:shipping:{provider,api,worker}: every PUT answers 202 and ends succeeded with one shipment each', async (t) => {
  t.timeout(90_000);
  database = await createTestDatabase();
  const provider = await start('example:shipping:provider', { PORT: '0', PROVIDER_FAIL_AFTER_CREATE_RATE: '0.3', PROVIDER_REFUSE_BEFORE_CREATE_RATE: '0.3' }).url;
  const env = { DATABASE_URL: database.url, SHIPPING_PROVIDER_URL: provider, EXAMPLE_API_KEY: API_KEY, WORKER_LEASE_SECONDS: '3' };
  const base = await start('example:shipping:api', { ...env, PORT: '0' }).url;
  const workers = [start('example:shipping:worker', env), start('example:shipping:worker', env)];
  const ids = Array.from({ length: 10 }, () => crypto.randomUUID());
  for (const [index, id] of ids.entries()) {
    const reply = await send(base, 'PUT', `/contexts/${id}`, {
      key: API_KEY,
      headers: { 'if-none-match': '*' },
      body: { action: { type: 'ship-order', orderId: `script-order-${index}`, address: `${index} Dock Lane` } },
    });
    t.is(reply.status, 202, reply.text);
  }
  t.is((await send(base, 'GET', `/contexts/${ids[0]}`)).status, 401, 'the API key is required');
  const deadline = Date.now() + 45_000;
  let states: string[] = [];
  while (Date.now() < deadline) {
    states = await Promise.all(ids.map(async (id) => at((await send(base, 'GET', `/contexts/${id}`, { key: API_KEY })).json, 'state') as string));
    if (states.every((state) => state === 'succeeded')) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.deepEqual(states, ids.map(() => 'succeeded'));
  const { rows } = await database.pool.query('SELECT order_id, count(*)::int AS n FROM shipments GROUP BY order_id');
  t.is(rows.length, ids.length);
  t.true(rows.every((row: { n: number }) => row.n === 1));
  t.is(workers.length, 2);
  // SIGTERM drains: the worker process (without npm around it) finishes what it holds and exits 0.
  const worker = spawn(process.execPath, ['--import=tsx', 'examples/shipping/worker.ts'], { env: { ...process.env, ...env, LOG_LEVEL: 'silent' }, stdio: 'ignore' });
  children.push(worker);
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
  worker.kill('SIGTERM');
  t.is(await exited, 0);
});
