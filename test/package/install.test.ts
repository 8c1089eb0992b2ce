// The engine as a team installs it: `npm pack`, then a fresh application outside the repository
// installs the tarball (and the peers it shares: koa, kysely, pg), type-checks its own code under
// plain strict NodeNext settings, runs with plain `node`, mounts the engine under /api in a
// schema of its own beside host tables named `tenants` and `schema_migrations`, and passes the
// packaged `idempotence-conformance`. Logs the size and package count of that installation.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { loadMigrations } from '../../src/db/migrate.ts';
import { listeningUrl } from '../helpers/child-url.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

const run = promisify(execFile);
const REPO = process.cwd();
const KEY = 'host-key-0123456789abcdef';
const MAX_INSTALL_BYTES = 40 * 1024 * 1024;

let app: string | undefined;
let database: TestDatabase | undefined;
let host: ChildProcess | undefined;

test.after.always(async () => {
  host?.kill('SIGKILL');
  await database?.drop();
  if (app) await rm(app, { recursive: true, force: true });
});

async function sizeOf(dir: string): Promise<{ bytes: number; packages: number }> {
  let bytes = 0;
  let packages = 0;
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        bytes += (await import('node:fs/promises').then((fs) => fs.stat(full))).size;
        if (entry.name === 'package.json' && path.basename(path.dirname(path.dirname(full))).startsWith('node_modules')) packages++;
        else if (entry.name === 'package.json' && path.basename(path.dirname(path.dirname(path.dirname(full)))) === 'node_modules' && path.basename(path.dirname(path.dirname(full))).startsWith('@')) packages++;
      }
    }
  };
  await walk(dir);
  return { bytes, packages };
}

test('npm pack → a fresh app installs it, type-checks under strict NodeNext, runs with node and passes idempotence-conformance', async (t) => {
  t.timeout(300_000);
  await run('npm', ['run', '--silent', 'build'], { cwd: REPO, timeout: 120_000 });
  app = await mkdtemp(path.join(os.tmpdir(), 'idempotence-host-'));
  const { stdout: packed } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], { cwd: REPO, timeout: 120_000 });
  const tarball = path.join(app, (JSON.parse(packed) as { filename: string }[])[0]?.filename ?? '');
  t.log(`tarball: ${path.basename(tarball)}`);

  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'host-app', private: true, type: 'module' }));
  await run('npm', ['install', tarball, 'koa@^3.0.0', 'kysely@^0.28.0', 'pg@^8.11.0', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'], { cwd: app, timeout: 240_000 });
  const installed = await sizeOf(path.join(app, 'node_modules'));
  t.log(`the app's node_modules: ${(installed.bytes / 1024 / 1024).toFixed(1)} MB, ${installed.packages} packages`);
  t.true(installed.bytes <= MAX_INSTALL_BYTES, `at most 40 MB (${installed.bytes} bytes)`);

  // Types: the host's own code, strict NodeNext, nothing but @types/node of its own.
  await run('npm', ['install', '--no-save', '@types/node@^20', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeout: 120_000 });
  await cp(path.join(REPO, 'test/package/fixture/host.ts'), path.join(app, 'host.ts'));
  await cp(path.join(REPO, 'test/package/fixture/tsconfig.json'), path.join(app, 'tsconfig.json'));
  await t.notThrowsAsync(run(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, timeout: 120_000 }), 'the host type-checks');

  database = await createTestDatabase(4, { empty: true }); // the host's database: nothing of the engine's in it yet
  host = spawn(process.execPath, ['dist/host.js'], { cwd: app, env: { ...process.env, DATABASE_URL: database.url, HOST_API_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
  const base = await listeningUrl(host, 'the host');

  const conformance = await run(
    path.join(app, 'node_modules/.bin/idempotence-conformance'),
    ['--base', `${base}/api`, '--header', `Authorization: Bearer ${KEY}`, '--action', '{"type":"place-order","item":"book"}', '--other-action', '{"type":"place-order","item":"pen"}'],
    { cwd: app, timeout: 120_000 },
  ).catch((error: { stdout?: string; code?: number }) => ({ stdout: `${error.stdout ?? ''}\n(exit ${error.code})` }));
  t.log(conformance.stdout.trim().split('\n').slice(-1)[0] ?? '');
  t.regex(conformance.stdout, /^\d+ passed, 0 failed$/m, conformance.stdout);

  // The host's tables are untouched; the engine's are in its schema, with its own bookkeeping.
  const pool = database.pool;
  t.deepEqual((await pool.query('SELECT version, name FROM public.schema_migrations')).rows, [{ version: 1, name: 'host: create tenants' }]);
  t.deepEqual((await pool.query('SELECT email FROM public.tenants')).rows, [{ email: 'host@example.com' }]);
  t.is(Number((await pool.query('SELECT count(*) AS n FROM idempotence.idempotence_migrations')).rows[0].n), (await loadMigrations()).length);
  t.is((await pool.query("SELECT to_regclass('public.contexts') AS t")).rows[0].t, null, 'no engine table in public');
  const orders = await pool.query('SELECT count(*)::int AS n, count(DISTINCT o.context_id)::int AS contexts FROM public.orders o JOIN idempotence.contexts c ON c.id = o.context_id');
  t.true(orders.rows[0].n > 0, 'the action wrote the host\'s table');
  t.is(orders.rows[0].n, orders.rows[0].contexts, 'one order per executed context: no action ran twice');
});
