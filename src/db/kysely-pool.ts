// The pool as Kysely sees it. Two things pg-pool does not do for Kysely:
//  - name statements (prepared once per connection; see prepared-statements.ts), unless off,
//    and fall back to unnamed ones behind a transaction-mode pooler;
//  - give up a connection whose statement timed out client-side. pg answers such a statement
//    with an error but leaves it active on the connection, and Kysely releases connections
//    without an error, so pg-pool would put it back among the idle ones: every later query on it
//    would queue behind the lost answer and time out in turn (slots stay taken, requests hang).
//    Here the first timeout marks the connection broken: what Kysely sends next on it (the
//    ROLLBACK) fails at once with the same error, and it is released with that error, which makes
//    pg-pool destroy it (pg-pool 3: release(err) removes the client; ending a client whose query
//    is still active destroys its socket).
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { isPreparedStatementError, type StatementNames } from './prepared-statements.ts';
import { DatabaseTimeoutError, isQueryTimeout } from './timeouts.ts';

/** `names` undefined: every statement unnamed. */
export function kyselyPool(pool: pg.Pool, names: StatementNames | undefined): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let broken: Error | undefined;
      const send = async (text: string, values: unknown[]): Promise<pg.QueryResult> => {
        const name = names?.nameFor(text);
        if (name === undefined) return client.query(text, values);
        try {
          return await client.query({ name, text, values });
        } catch (error) {
          // A transaction-mode pooler lost or doubled the statement (prepared-statements.ts): from
          // now on unnamed. In a transaction ('E': aborted now) only the whole of it can run again.
          if (!names || !isPreparedStatementError(error)) throw error;
          names.giveUp(error);
          if (client.getTransactionStatus() !== 'I') throw error;
          return client.query(text, values);
        }
      };
      const query = ((text: unknown, parameters?: readonly unknown[]) => {
        // Kysely's streaming queries pass a cursor object; those go through unchanged.
        if (typeof text !== 'string') return client.query(text as pg.Submittable);
        if (broken) return Promise.reject(broken);
        return send(text, parameters as unknown[]).catch((error: unknown) => {
          if (isQueryTimeout(error)) broken = new DatabaseTimeoutError(pool.options.query_timeout, { cause: error });
          throw broken ?? error;
        });
      }) as unknown as PostgresPoolClient['query'];
      return { query, release: () => client.release(broken) };
    },
    end: () => pool.end(),
  };
}
