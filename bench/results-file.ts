// The results file of a bench run: what it printed, under the date, the machine and the commit,
// written to docs/benchmarks/latest.md (a partial run, with --only, to docs/benchmarks/partial.md;
// BENCH_RESULTS names another file).
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

function commit(): string {
  try {
    const id = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${id} (with uncommitted changes)` : id;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export async function writeResults(printed: string[], run: { durationSeconds: number; connections: number; only: string | undefined }): Promise<string> {
  const cpus = os.cpus();
  const machine = `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
  const file = process.env['BENCH_RESULTS'] ?? (run.only === undefined ? 'docs/benchmarks/latest.md' : 'docs/benchmarks/partial.md');
  const header = [
    `# Benchmark run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Written by \`npm run bench\` (${run.durationSeconds} s per workload, ${run.connections} connections${run.only ? `, only /${run.only}/` : ''}).`,
    `Machine: ${machine}. Commit: ${commit()}.`,
    '',
  ];
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${[...header, ...printed].join('\n')}\n`);
  process.stderr.write(`# results written to ${file}\n`);
  return file;
}
