// Kysely sends every query as an unnamed statement, which Postgres parses and plans on every
// execution. Naming a statement makes pg prepare it once per connection and then send only
// Bind/Execute: measured on the request paths of this service (bench/), that takes a third
// of Postgres's CPU per request away (see the README's performance section).
import { createHash } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/**
 * Distinct statement texts that get a name. The service has a few dozen; the limit only keeps a
 * query built from unbounded input (none today) from growing every connection's statement cache.
 */
export const MAX_NAMED_STATEMENTS = 500;

export class StatementNames {
  readonly #names = new Map<string, string>();

  constructor(private readonly limit = MAX_NAMED_STATEMENTS) {}

  /** A name derived from the text (so every process agrees), or undefined past the limit. */
  nameFor(text: string): string | undefined {
    const known = this.#names.get(text);
    if (known !== undefined || this.#names.size >= this.limit) return known;
    const name = `k_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
    this.#names.set(text, name);
    return name;
  }
}

/** The pool as Kysely sees it, with each query sent as a named (prepared) statement. */
export function preparedStatementPool(pool: pg.Pool, names = new StatementNames()): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      const query = ((text: unknown, parameters?: readonly unknown[]) => {
        // Kysely's streaming queries pass a cursor object; those go through unchanged.
        if (typeof text !== 'string') return client.query(text as pg.Submittable);
        const name = names.nameFor(text);
        const values = parameters as unknown[];
        return name === undefined ? client.query(text, values) : client.query({ name, text, values });
      }) as unknown as PostgresPoolClient['query'];
      return { query, release: () => client.release() };
    },
    end: () => pool.end(),
  };
}
