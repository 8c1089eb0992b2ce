// Every relative link of README.md and docs/ names a file or folder that exists: moving a
// section or a source file cannot leave a dead link behind.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';

async function markdownFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await markdownFiles(full)));
    else if (entry.name.endsWith('.md')) found.push(full);
  }
  return found;
}

test('the relative links of README.md and docs/ lead somewhere', async (t) => {
  const files = ['README.md', 'model/README.md', ...(await markdownFiles('docs'))];
  const dead: string[] = [];
  let links = 0;
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!target || /^(https?:|mailto:|#)/.test(target)) continue;
      links++;
      const resolved = path.join(path.dirname(file), decodeURIComponent(target.split('#')[0] ?? ''));
      if (!existsSync(resolved)) dead.push(`${file}: ${target}`);
    }
  }
  t.true(links > 30, `${links} links checked`);
  t.deepEqual(dead, []);
});
