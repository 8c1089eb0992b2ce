// A headless Chromium for tests on any machine: Debian's (/usr/bin/chromium) when it is installed,
// otherwise the one that ships inside the @sparticuz/chromium npm package (a dev dependency),
// unpacked on first use. Nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import chromiumPackage from '@sparticuz/chromium';
import { chromium, type Browser } from 'playwright-core';

const SYSTEM_CHROMIUM = '/usr/bin/chromium';
// No background traffic: this machine's network is closed, and a test must not depend on one.
const QUIET = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** TEST_CHROMIUM=bundled uses the npm package's browser even where Debian's is installed (CI runs both). */
export async function launchChromium(): Promise<{ browser: Browser; which: string }> {
  if (existsSync(SYSTEM_CHROMIUM) && process.env['TEST_CHROMIUM'] !== 'bundled') {
    const browser = await chromium.launch({ executablePath: SYSTEM_CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', ...QUIET], headless: true, timeout: 15_000 });
    return { browser, which: SYSTEM_CHROMIUM };
  }
  const executablePath = await unpackedChromium();
  const env = await librariesFor(executablePath);
  const browser = await chromium.launch({ executablePath, args: [...chromiumPackage.args, ...QUIET], headless: true, timeout: 20_000, ...(env ? { env } : {}) });
  return { browser, which: `@sparticuz/chromium (${executablePath})${env ? ' with its bundled NSS libraries' : ''}` };
}

/** The package's folder (its entry is build/esm/index.js or build/cjs/index.cjs; bin/ is beside build/). */
function sparticuzDir(): string {
  return path.resolve(path.dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')), '..', '..');
}

/**
 * The package unpacks its browser (and the GL libraries it loads) into os.tmpdir() and reuses
 * what it finds there, whatever version left it: a folder per version keeps two versions apart.
 */
async function unpackedChromium(): Promise<string> {
  const packageDir = sparticuzDir();
  const { version } = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const ownTmp = path.join(os.tmpdir(), `idempotence-chromium-${version}`);
  await mkdir(ownTmp, { recursive: true });
  const previous = process.env['TMPDIR'];
  process.env['TMPDIR'] = ownTmp;
  try {
    return await chromiumPackage.executablePath();
  } finally {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
  }
}

/**
 * The package's Chromium needs only glibc and NSS/NSPR/expat, which a machine with nothing but
 * Node may lack; the package carries them (al2023.tar.br, unpacked by it on Amazon Linux only).
 * Where `ldd` reports one missing, they are unpacked here and put on LD_LIBRARY_PATH.
 */
async function librariesFor(executablePath: string): Promise<Record<string, string> | undefined> {
  const linked = spawnSync('ldd', [executablePath], { encoding: 'utf8' });
  if (linked.status !== 0 || !/not found/.test(linked.stdout)) return undefined;
  const dir = path.join(os.tmpdir(), 'idempotence-chromium-libs');
  if (!existsSync(path.join(dir, 'lib', 'libnss3.so'))) {
    await mkdir(dir, { recursive: true });
    // bin/al2023.tar.br: the package exports no path to it.
    const archive = path.join(sparticuzDir(), 'bin', 'al2023.tar.br');
    await writeFile(path.join(dir, 'libs.tar'), brotliDecompressSync(await readFile(archive)));
    const unpacked = spawnSync('tar', ['-xf', 'libs.tar'], { cwd: dir });
    if (unpacked.status !== 0) throw new Error(`could not unpack Chromium's libraries: ${String(unpacked.stderr)}`);
  }
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
  env['LD_LIBRARY_PATH'] = [path.join(dir, 'lib'), process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':');
  return env;
}
