// Kysely sends every query as an unnamed statement, which Postgres parses and plans on every
// execution. Naming a statement makes pg prepare it once per connection and then send only
// Bind/Execute: measured on the request paths of this service (bench/), that takes a third
// of Postgres's CPU per request away (see the README's performance section).
//
// A pooler in transaction mode (PgBouncer before 1.21, or later ones with max_prepared_statements
// = 0) gives each transaction whichever server connection is free: a statement pg prepared on one
// is unknown on the next (26000), or another client prepared it there under the same name
// (42P05). The first such error switches the whole process to unnamed statements (the pooler is
// a property of the deployment, not of one connection) and the failed statement is not lost:
// outside a transaction it is sent again unnamed here (nothing of it ran: Parse or Bind failed);
// inside one the transaction is aborted, and inTransaction (transaction.ts) runs it again whole.
import { createHash } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/**
 * Distinct statement texts that get a name. The service has a few dozen; the limit only keeps a
 * query built from unbounded input (none today) from growing every connection's statement cache.
 */
export const MAX_NAMED_STATEMENTS = 500;

/** 26000 invalid_sql_statement_name (not prepared here), 42P05 duplicate_prepared_statement. */
const PREPARED_STATEMENT_SQLSTATES = new Set(['26000', '42P05']);

/** The server connection did not have (or already had) a named statement: what a transaction-mode pooler causes. */
export function isPreparedStatementError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && PREPARED_STATEMENT_SQLSTATES.has(code);
}

export class StatementNames {
  readonly #names = new Map<string, string>();
  #unnamed = false;

  constructor(
    private readonly limit = MAX_NAMED_STATEMENTS,
    /** Called once, with the error, when named statements are given up. */
    private readonly onGiveUp?: (error: unknown) => void,
  ) {}

  /** A name derived from the text (so every process agrees), or undefined past the limit or once given up. */
  nameFor(text: string): string | undefined {
    if (this.#unnamed) return undefined;
    const known = this.#names.get(text);
    if (known !== undefined || this.#names.size >= this.limit) return known;
    const name = `k_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
    this.#names.set(text, name);
    return name;
  }

  /** False once a server connection lost or doubled a named statement: every statement is unnamed from then on. */
  get named(): boolean {
    return !this.#unnamed;
  }

  giveUp(error: unknown): void {
    if (this.#unnamed) return;
    this.#unnamed = true;
    this.onGiveUp?.(error);
  }
}

/** The pool as Kysely sees it, with each query sent as a named (prepared) statement while the server keeps them. */
export function preparedStatementPool(pool: pg.Pool, names = new StatementNames()): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      const named = async (name: string, text: string, values: unknown[]): Promise<pg.QueryResult> => {
        try {
          return await client.query({ name, text, values });
        } catch (error) {
          if (!isPreparedStatementError(error)) throw error;
          names.giveUp(error);
          // In a transaction ('E': it is aborted now) only the whole transaction can run again.
          if (client.getTransactionStatus() !== 'I') throw error;
          return client.query(text, values);
        }
      };
      const query = ((text: unknown, parameters?: readonly unknown[]) => {
        // Kysely's streaming queries pass a cursor object; those go through unchanged.
        if (typeof text !== 'string') return client.query(text as pg.Submittable);
        const name = names.nameFor(text);
        const values = parameters as unknown[];
        return name === undefined ? client.query(text, values) : named(name, text, values);
      }) as unknown as PostgresPoolClient['query'];
      return { query, release: () => client.release() };
    },
    end: () => pool.end(),
  };
}
