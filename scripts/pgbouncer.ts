// A PgBouncer in transaction mode in front of a Postgres, started and stopped by the test or the
// chaos run (`npm run chaos -- --pooler`) that needs it: Debian's package (1.18 on bookworm, which keeps no prepared statements across
// transactions), installed here once when it is missing and this machine can (root, apt-get).
// PgBouncer refuses to run as root, so as root it runs as the `postgres` user.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.ts';

const run = promisify(execFile);

export interface RunningPgBouncer {
  /** `url` with its host and port replaced by PgBouncer's (same user, password and database). */
  through(url: string): string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

function which(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const line = found.status === 0 ? found.stdout.trim() : '';
  return line === '' ? undefined : line;
}

/**
 * The pgbouncer binary, installed with apt-get if it is missing and this process is root (once:
 * it takes about a minute); otherwise why not. Synchronous, so a test file can register its tests
 * as skipped at load.
 */
export function findPgBouncer(): { binary: string } | { missing: string } {
  const locate = () => which('pgbouncer') ?? which('/usr/sbin/pgbouncer');
  let binary = locate();
  if (!binary && process.getuid?.() === 0 && which('apt-get')) {
    spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer'], { stdio: 'ignore', timeout: 300_000 });
    binary = locate();
  }
  return binary ? { binary } : { missing: 'pgbouncer is not installed and this process cannot install it (needs root and apt-get): apt-get install pgbouncer' };
}

/** PgBouncer started in front of `serverUrl`, or an error that says why it cannot be (for `--pooler`, which needs it). */
export async function requirePgBouncer(serverUrl: string): Promise<RunningPgBouncer> {
  const found = findPgBouncer();
  if ('missing' in found) throw new Error(found.missing);
  return startPgBouncer(found.binary, serverUrl);
}

/** The uid and gid of `postgres`, for running PgBouncer as root's stand-in. */
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function waitUntilServing(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}): ${output()}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`pgbouncer did not serve in 15 s (${(error as Error).message}): ${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * Starts PgBouncer on a free port: pool_mode = transaction, every other pool setting PgBouncer's
 * default, every database forwarded to the server of `serverUrl` (its host, port, user and password).
 */
export async function startPgBouncer(binary: string, serverUrl: string): Promise<RunningPgBouncer> {
  const upstream = new URL(serverUrl);
  const user = decodeURIComponent(upstream.username || 'postgres');
  const password = decodeURIComponent(upstream.password);
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idem-pgbouncer-'));
  await chmod(dir, 0o755);
  const config = [
    '[databases]',
    `* = host=${upstream.hostname} port=${upstream.port || '5432'}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'pool_mode = transaction',
    // Clients are not asked for a password; PgBouncer logs in to the server with the one in its list.
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    `admin_users = ${user}`,
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'pgbouncer.ini'), config, { mode: 0o644 });
  await writeFile(path.join(dir, 'userlist.txt'), `"${user}" "${password.replaceAll('"', '""')}"\n`, { mode: 0o644 });
  const asRoot = process.getuid?.() === 0;
  const child = spawn(binary, [path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'], ...(asRoot ? await postgresUser() : {}) });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const bouncer: RunningPgBouncer = {
    port,
    pid: child.pid ?? -1,
    through(url) {
      const routed = new URL(url);
      routed.hostname = '127.0.0.1';
      routed.port = String(port);
      return routed.toString();
    },
    async stop() {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitUntilServing(bouncer.through(serverUrl), child, () => output);
  } catch (error) {
    await bouncer.stop();
    throw error;
  }
  return bouncer;
}
