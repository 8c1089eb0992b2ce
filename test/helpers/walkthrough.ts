// A documentation walk-through, run as written: the ```sh block between `<!-- walkthrough:start`
// and `<!-- walkthrough:end -->` of a Markdown file; its `# → ` comments are the expected output.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function runWalkthrough(file: string, env: Record<string, string>): Promise<{ expected: string[]; actual: string[] }> {
  const text = await readFile(file, 'utf8');
  const script = /<!-- walkthrough:start[^>]*-->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(text)?.[1];
  if (!script) throw new Error(`${file} has no walkthrough block`);
  const expected = script.split('\n').filter((line) => line.startsWith('# → ')).map((line) => line.slice('# → '.length));
  const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { env: { ...process.env, ...env }, timeout: 30_000 });
  const actual = stdout.split('\n').map((line) => line.replace(/\r$/, '')).filter((line) => line !== '');
  return { expected, actual };
}
