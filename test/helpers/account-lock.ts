// Holds a row lock on an account from outside the service (its own connection and transaction), so
// requests that touch the account stay in progress until the returned release is called.
import pg from 'pg';

export async function holdAccountLock(databaseUrl: string, account: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [account]);
  return async () => {
    await client.query('COMMIT');
    await client.end();
  };
}
