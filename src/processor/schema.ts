// The simulated processor keeps its state in its own schema, beside (never inside) the service's
// public tables: it stands for a third party whose database we cannot see into.
import type pg from 'pg';

// Serialises concurrent start-ups: CREATE SCHEMA/TABLE IF NOT EXISTS can still fail with a
// unique violation on the catalogs when two sessions run them at the same moment.
const SCHEMA_LOCK = 7_201_100_901;

const DDL = `
  CREATE SCHEMA IF NOT EXISTS processor;
  CREATE TABLE IF NOT EXISTS processor.charges (
    id                  text PRIMARY KEY,
    idempotency_key     text NOT NULL UNIQUE,
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            char(3) NOT NULL,
    source              text NOT NULL,
    status              text NOT NULL CHECK (status IN ('succeeded', 'declined')),
    request_fingerprint text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE
  );
`;

/** Creates the processor schema and its table if missing. Safe to call from several processes at once. */
export async function ensureProcessorSchema(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    await client.query(DDL);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken); // a connection that cannot even roll back is discarded
  }
}
