import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './schema.ts';
import { MAX_NAMED_STATEMENTS, StatementNames } from './prepared-statements.ts';
import { kyselyPool } from './kysely-pool.ts';
import { DEFAULT_DATABASE_TIMEOUTS, type DatabaseTimeouts } from './timeouts.ts';

const INT8_OID = 20;

/**
 * A pool whose int8 columns arrive as numbers. Set per pool rather than globally, so an
 * application that mounts this engine keeps its own pg type parsing. Every wait for the database
 * is bounded (`timeouts`, default DEFAULT_DATABASE_TIMEOUTS; see src/db/timeouts.ts): past a
 * bound the caller gets an error the API answers 503, never a hang.
 */
export function createPool(connectionString: string, max = 10, timeouts: Partial<DatabaseTimeouts> = {}): pg.Pool {
  const bounds = { ...DEFAULT_DATABASE_TIMEOUTS, ...timeouts };
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: bounds.connectMs,
    // 0 leaves a bound off.
    ...(bounds.queryMs > 0 ? { query_timeout: bounds.queryMs } : {}),
    ...sessionBounds(bounds),
    ...(bounds.keepAliveDelayMs > 0 ? { keepAlive: true, keepAliveInitialDelayMillis: bounds.keepAliveDelayMs } : {}),
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection that the server drops (restart, pg_terminate_backend) is an 'error' event
  // on the pool; unhandled, it would crash the process. The pool discards that client and opens a
  // new one on demand; requests in flight see their own errors (503).
  pool.on('error', () => undefined);
  // pg-pool drops its own listener while a client is checked out, and a connection lost then
  // (a restart, pg_terminate_backend in the middle of a transaction) is emitted as 'error' on the
  // client: without a listener that would crash the process. The running query fails on its
  // own (→ 503), and the pool discards the dead client when it is released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/**
 * The server-side bounds, set by one statement when a connection opens (pg-pool's `onConnect`,
 * awaited before the connection is handed out; a pool made from these options, as poolForSchema
 * makes, carries it too). Not as startup parameters: PgBouncer refuses any it does not know
 * ("unsupported startup parameter"), and the defaults must work behind it. Through a pooler in
 * transaction mode the SET lands on whichever server connection served it and stays there, which
 * gives the clients of that server connection the same bounds — the ones all of ours use.
 */
function sessionBounds(bounds: DatabaseTimeouts): Pick<pg.PoolConfig, 'onConnect'> {
  const settings = [
    ...(bounds.statementMs > 0 ? [`SET statement_timeout = ${Math.trunc(bounds.statementMs)}`] : []),
    ...(bounds.idleInTransactionMs > 0 ? [`SET idle_in_transaction_session_timeout = ${Math.trunc(bounds.idleInTransactionMs)}`] : []),
  ].join('; ');
  if (settings === '') return {};
  return {
    onConnect: async (client) => {
      await client.query(settings);
    },
  };
}

export interface DatabaseOptions {
  /**
   * Send statements as named (prepared) ones (default true). Behind a pooler in transaction mode
   * that cannot keep them the process notices on the first error and goes on unnamed by itself;
   * false starts unnamed.
   */
  preparedStatements?: boolean;
  /** Called once, with the error that showed it, when named statements are given up. */
  onNamedStatementsLost?: (error: unknown) => void;
}

const statementNames = new WeakMap<Kysely<Database>, StatementNames>();

/** Kysely over the pool, with named statements unless `preparedStatements` is false. */
export function createDatabase(pool: pg.Pool, options: DatabaseOptions = {}): Kysely<Database> {
  // A connection whose statement timed out is destroyed, not reused (src/db/kysely-pool.ts).
  if (options.preparedStatements === false) return new Kysely<Database>({ dialect: new PostgresDialect({ pool: kyselyPool(pool, undefined) }) });
  const names = new StatementNames(MAX_NAMED_STATEMENTS, options.onNamedStatementsLost);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: kyselyPool(pool, names) }) });
  statementNames.set(db, names);
  return db;
}

/** Whether `db` sends named statements now: false when made without, or once a pooler made it give them up. */
export function sendsNamedStatements(db: Kysely<Database>): boolean {
  return statementNames.get(db)?.named ?? false;
}

export type { Database };
export { DEFAULT_DATABASE_TIMEOUTS, type DatabaseTimeouts };

/**
 * A pool like `pool` (same server, credentials, limits and type parsing) whose connections use
 * the engine's schema first (`search_path`, set when each connection starts: no statement per
 * transaction), and its bounds (timeouts and keepalive). The engine queries through it, so its
 * unqualified table names never meet a host's.
 */
export function poolForSchema(pool: pg.Pool, search: string): pg.Pool {
  const own = new pg.Pool({ ...pool.options, options: `-c search_path=${search.replaceAll(' ', '')}` });
  own.on('error', () => undefined);
  own.on('connect', (client) => client.on('error', () => undefined));
  return own;
}
