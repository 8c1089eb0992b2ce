// The physical limit: pgbench (-M prepared) sending the service's statements (bench/sql.ts)
// straight to Postgres, with no HTTP and no Node in between.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Measurement } from './load.ts';
import { SQL, type StatementName } from './sql.ts';

/** pgbench on PATH, or the one next to Debian's server binaries; undefined when there is none. */
export function findPgbench(): string | undefined {
  const candidates = ['pgbench', ...['18', '17', '16', '15', '14'].map((v) => `/usr/lib/postgresql/${v}/bin/pgbench`)];
  return candidates.find((candidate) => spawnSync(candidate, ['--version']).status === 0);
}

/**
 * One statement of a script: `$n` becomes `:name` (a pgbench variable) unless `bind` gives the
 * name another expression. Binding a parameter to SQL (NULL, or a uuid built from a random
 * number) is the only difference from the service's text; the plan is the same.
 */
export function scriptLine(name: StatementName, bind: Record<string, string> = {}, gset?: string): string {
  const statement = SQL[name];
  const text = statement.text.replace(/\$(\d+)/g, (_, index: string) => {
    const param = statement.params[Number(index) - 1] ?? `p${index}`;
    return bind[param] ?? `:${param}`;
  });
  return `${text}${gset === undefined ? ';' : ` \\gset ${gset}`}`;
}

/** The SQL for account number `variable` (see accountId in bench/database.ts). */
export function accountExpression(variable: string): string {
  return `('00000000-0000-4000-8000-' || lpad(:${variable}::text, 12, '0'))::uuid`;
}

export interface PgbenchRun {
  pgbench: string;
  databaseUrl: string;
  script: string;
  clients: number;
  durationSeconds: number;
  /** -D name=value: string variables of the script. */
  variables: Record<string, string>;
  /** Transactions per operation (2 for create-then-execute). */
  transactionsPerOperation?: number;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
}

export async function runPgbench(run: PgbenchRun): Promise<Measurement> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idem-pgbench-'));
  try {
    const scriptFile = path.join(dir, 'script.sql');
    await writeFile(scriptFile, run.script);
    const args = [
      '-n', '-M', 'prepared', '-c', String(run.clients), '-j', String(Math.min(run.clients, 2)), '-T', String(run.durationSeconds),
      '-f', scriptFile, '-l', `--log-prefix=${path.join(dir, 'log')}`,
      ...Object.entries(run.variables).flatMap(([name, value]) => ['-D', `${name}=${value}`]),
      run.databaseUrl,
    ];
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(run.pgbench, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`pgbench exited with ${code}:\n${text}`))));
    });
    const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? 'NaN');
    // A script error (an undefined variable, a failing statement) aborts clients, not pgbench.
    if (!Number.isFinite(tps) || /aborted|error/i.test(output)) throw new Error(`pgbench did not run cleanly:\n${output.slice(0, 2_000)}`);
    const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? '0');
    const latencies: number[] = [];
    for (const file of (await readdir(dir)).filter((name) => name.startsWith('log'))) {
      for (const line of (await readFile(path.join(dir, file), 'utf8')).split('\n')) {
        const micros = Number(line.split(' ')[2]);
        if (Number.isFinite(micros) && line !== '') latencies.push(micros / 1000);
      }
    }
    latencies.sort((a, b) => a - b);
    return {
      throughput: tps / (run.transactionsPerOperation ?? 1),
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      statuses: {},
      errors: failed,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
