// openapi.yaml is meant for any generator, not only the openapi-typescript one the SDK uses. Two
// independent generators — @hey-api/openapi-ts (its fetch client) and orval (its fetch client) —
// generate a client from it into a fresh temporary directory, offline, through their CLIs; the
// repository's TypeScript compiles each under strict settings; and the hey-api client, compiled
// to JavaScript, runs the README walk-through against a live server with a payment worker.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { withPaymentRig } from '../helpers/payments.ts';
import type { Walkthrough } from './hey-api-walkthrough.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SPEC = path.join(ROOT, 'openapi.yaml');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const bin = (name: string) => path.join(ROOT, 'node_modules', '.bin', name);
const STEP_TIMEOUT_MS = 30_000;

const useRig = withPaymentRig(test);

let tmp: string | undefined;
test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'idempotence-generators-'));
});
test.after.always(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});
const dir = (...parts: string[]) => {
  if (!tmp) throw new Error('the temporary directory is not made yet');
  return path.join(tmp, ...parts);
};

/** The strictest settings this repository compiles with (tsconfig.json), for generated code. */
const STRICT = {
  target: 'ES2022',
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  // A generated client is for browsers and Node alike: it relies on fetch, Request and
  // URLSearchParams as the DOM library types them, not on Node's own types.
  lib: ['ES2022', 'DOM', 'DOM.Iterable'],
  types: [],
  skipLibCheck: false,
};

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Runs the repository's tsc on a project; resolves with its diagnostics, one per line (none: []). */
async function tsc(project: string): Promise<string[]> {
  try {
    await run(process.execPath, [TSC, '-p', project, '--pretty', 'false'], { cwd: path.dirname(project), timeout: STEP_TIMEOUT_MS });
    return [];
  } catch (error) {
    const output = String((error as { stdout?: unknown }).stdout ?? '') || String(error);
    return output.split('\n').filter((line) => /error TS\d+/.test(line));
  }
}

/** A generator's CLI, in the temporary directory (no config file of the repository applies). */
async function generate(cli: string, args: string[]): Promise<void> {
  await run(bin(cli), args, { cwd: dir(), timeout: STEP_TIMEOUT_MS, env: { ...process.env, NO_UPDATE_NOTIFIER: '1', CI: '1' } });
}

/**
 * The hey-api client and the walk-through beside it, compiled to JavaScript. Shared by the test
 * that checks the compilation and the one that runs it, and made once.
 */
let heyApi: Promise<{ strict: string[]; exactOptional: string[] }> | undefined;
function heyApiClient(): Promise<{ strict: string[]; exactOptional: string[] }> {
  heyApi ??= (async () => {
    const project = dir('hey-api');
    await mkdir(project, { recursive: true });
    await generate('openapi-ts', ['--input', SPEC, '--output', path.join(project, 'generated'), '--client', '@hey-api/client-fetch', '--no-log-file', '--silent']);
    await copyFile(new URL('./hey-api-walkthrough.ts', import.meta.url), path.join(project, 'walkthrough.ts'));
    // The sources are compiled into dist/, apart from them, so that what runs is tsc's JavaScript
    // (this process has tsx, which would pick a .ts file beside a .js one); the types come from
    // the sources.
    await writeJson(path.join(project, 'package.json'), {
      type: 'module',
      private: true,
      imports: { '#generated/*': { types: './generated/*', default: './dist/generated/*' } },
    });
    // hey-api's bundled fetch runtime (generated/client/ and generated/core/ — the same files for
    // every spec) does not survive exactOptionalPropertyTypes: it passes `undefined` to optional
    // members of its own types. So the build runs with strict and noUncheckedIndexedAccess, and a
    // second check adds exactOptionalPropertyTypes and allows diagnostics in that runtime only:
    // what is generated from openapi.yaml (types.gen.ts, sdk.gen.ts) and the walk-through pass it.
    const { exactOptionalPropertyTypes: _, ...strictBuild } = STRICT;
    await writeJson(path.join(project, 'tsconfig.json'), {
      compilerOptions: { ...strictBuild, module: 'NodeNext', moduleResolution: 'NodeNext', rootDir: '.', outDir: 'dist' },
      include: ['walkthrough.ts', 'generated/**/*.ts'],
    });
    await writeJson(path.join(project, 'tsconfig.exact.json'), {
      extends: './tsconfig.json',
      compilerOptions: { exactOptionalPropertyTypes: true, noEmit: true },
    });
    const [strict, exact] = await Promise.all([tsc(path.join(project, 'tsconfig.json')), tsc(path.join(project, 'tsconfig.exact.json'))]);
    const runtime = /^generated\/(client|core)\//;
    return { strict, exactOptional: exact.filter((line) => !runtime.test(line)) };
  })();
  return heyApi;
}

test('@hey-api/openapi-ts generates a fetch client that compiles under strict settings', async (t) => {
  t.timeout(45_000);
  const diagnostics = await heyApiClient();
  t.deepEqual(diagnostics.strict, [], 'strict + noUncheckedIndexedAccess, emitting JavaScript');
  t.deepEqual(diagnostics.exactOptional, [], 'exactOptionalPropertyTypes, outside the bundled runtime');
});

test('orval generates a fetch client that compiles under strict settings', async (t) => {
  t.timeout(45_000);
  const project = dir('orval');
  await mkdir(project, { recursive: true });
  await generate('orval', ['--input', SPEC, '--output', path.join(project, 'client.ts'), '--client', 'fetch', '--mode', 'single']);
  await writeJson(path.join(project, 'package.json'), { type: 'module', private: true });
  await writeJson(path.join(project, 'tsconfig.json'), {
    compilerOptions: { ...STRICT, module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true },
    files: ['client.ts'],
  });
  t.deepEqual(await tsc(path.join(project, 'tsconfig.json')), []);
});

test('the README walk-through runs through the hey-api client: conditional requests, replays, problems, a payment', async (t) => {
  t.timeout(50_000);
  const diagnostics = await heyApiClient();
  t.deepEqual(diagnostics.strict, [], 'the client compiled');
  if (diagnostics.strict.length > 0) return;
  const compiled = pathToFileURL(dir('hey-api', 'dist', 'walkthrough.js')).href;
  const { walkthrough } = (await import(compiled)) as { walkthrough: Walkthrough };
  const { server } = useRig();
  const report = await walkthrough(server.base, server.tenant.apiKey, { withPayment: true });
  const { answers } = report;

  const context = (status: number, state: string, version: number, replayed = false) => ({ status, state, version, replayed, problemType: null });
  t.like(answers['open Alice'], { status: 201, version: 1, problemType: null });
  t.like(answers['open Bob'], { status: 201, version: 1, problemType: null });
  t.like(answers['create context'], { ...context(201, 'open', 1), etag: '"1"' });
  t.like(answers['deposit'], { ...context(200, 'succeeded', 2), etag: '"2"' });
  t.like(answers['transfer'], context(201, 'succeeded', 2));
  t.regex(answers['transfer']?.location ?? '', /^\/contexts\/[0-9a-f-]{36}$/);
  t.like(answers['transfer replay'], context(200, 'succeeded', 2, true));
  t.true(report.sameBody['transfer replay'], 'the replay carries the recorded body');
  // The stale If-Match comes back as the generated client's error: the RFC 9457 problem.
  t.like(answers['stale If-Match'], { status: 412, state: null, etag: '"2"', currentETag: '"2"' });
  t.regex(answers['stale If-Match']?.problemType ?? '', /\/precondition-failed$/);
  t.deepEqual(report.balances['Alice after the transfer'], { balance: 7500, version: 3 });
  t.deepEqual(report.balances['Bob after the transfer'], { balance: 2500, version: 2 });
  t.like(answers['one-shot'], context(201, 'succeeded', 2));
  t.like(answers['one-shot replay'], context(201, 'succeeded', 2, true));
  t.true(report.sameBody['one-shot replay'], 'the replay carries the recorded body');
  t.deepEqual(report.balances['Alice after the one-shot'], { balance: 8000, version: 4 });
  t.like(answers['payment'], { ...context(202, 'processing', 2), etag: '"2"' });
  t.like(answers['long-poll'], { ...context(200, 'succeeded', 3), etag: '"3"' });
  t.deepEqual(report.balances['Bob after the payment'], { balance: 4499, version: 3 });
});
