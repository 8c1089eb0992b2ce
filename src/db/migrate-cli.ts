// `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded dev database).
import { loadConfig } from '../config.ts';
import { createPool } from './database.ts';
import { migrate } from './migrate.ts';

const config = loadConfig();
const embedded = config.databaseUrl ? undefined : await (await import('./embedded.ts')).useDevelopmentDatabase(config.dataDir, config.embeddedPostgresPort);
const pool = createPool(config.databaseUrl ?? embedded?.url ?? '', 1, config.databaseTimeouts);
try {
  const applied = await migrate(pool);
  console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'nothing to apply: the database is up to date');
} finally {
  await pool.end();
  await embedded?.stop();
}
