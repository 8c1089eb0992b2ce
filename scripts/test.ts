// `npm test`: runs ava against DATABASE_URL, or, when it is unset, against an embedded Postgres
// started here for the run and removed afterwards. Arguments are passed on to ava.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { freePort } from './free-port.ts';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.ts';

let embedded: EmbeddedServer | undefined;
let dataRoot: string | undefined;
const env = { ...process.env };
if (!env['DATABASE_URL']) {
  dataRoot = await mkdtemp(path.join(os.tmpdir(), 'idem-test-pg-'));
  await chmod(dataRoot, 0o755); // as root, Postgres runs as another user that must reach its data dir
  embedded = await startEmbeddedPostgres({ dataDir: path.join(dataRoot, 'data'), port: await freePort(), persistent: false });
  env['DATABASE_URL'] = embedded.url;
  process.stderr.write(`# embedded Postgres for this run: ${embedded.url}\n`);
}

const avaBin = path.join(process.cwd(), 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const child = spawn(process.execPath, [avaBin, ...process.argv.slice(2)], { stdio: 'inherit', env });
const code: number = await new Promise((resolve) => child.on('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0))));
await embedded?.stop();
if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
process.exit(code);
