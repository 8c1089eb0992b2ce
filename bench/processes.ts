// Servers under test run as child processes of their own, so each has its own event loop and
// its resident memory can be read from /proc while it is loaded. They run the compiled build
// (`npm run build`), not TypeScript through tsx: the loader alone holds ~50 MiB and adds work.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../scripts/free-port.ts';

/** Compiles the service and the bare server into dist/ (scripts/build.ts). */
export function buildForBench(): void {
  execFileSync(process.execPath, ['--import=tsx', 'scripts/build.ts'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

export interface BenchProcess {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** Highest resident set size seen since the last reset, in MiB (sampled every 100 ms). */
  peakRssMiB(): number;
  resetPeakRss(): void;
  stop(): Promise<void>;
}

async function rssMiB(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kib === undefined ? 0 : Number(kib) / 1024;
  } catch {
    return 0; // no /proc (not Linux) or the process has exited
  }
}

async function waitForHealth(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${output()}`);
    try {
      const reply = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (reply.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`did not answer /healthz within 60 s: ${output()}`);
}

/**
 * Starts `script args…` (compiled JavaScript from dist/, as in production) with PORT set to a
 * free port and waits for GET /healthz. Without a port (a worker), it waits only until the
 * process is up.
 */
export async function startBenchProcess(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  options: { listens?: boolean; nodeArgs?: string[]; portVariable?: string } = {},
): Promise<BenchProcess> {
  const listens = options.listens ?? true;
  const port = listens ? await freePort() : 0;
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    env: { ...process.env, ...env, [options.portVariable ?? 'PORT']: String(port) },
    // Request logs go to /dev/null: they are written (production settings) but not kept.
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const url = `http://127.0.0.1:${port}`;
  try {
    if (listens) await waitForHealth(url, child, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${name}: ${(error as Error).message}`);
  }
  const pid = child.pid ?? 0;
  let peak = 0;
  const sampler = setInterval(() => {
    void rssMiB(pid).then((mib) => (peak = Math.max(peak, mib)));
  }, 100);
  return {
    name,
    url,
    pid,
    peakRssMiB: () => peak,
    resetPeakRss: () => {
      peak = 0;
    },
    async stop() {
      clearInterval(sampler);
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

async function processCpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Pids of the local Postgres server's processes (backends included), by command name. */
async function postgresPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'postgres') pids.push(Number(entry));
  }
  return pids;
}

export interface CpuSplit {
  /** CPU seconds used during the interval, by who used them. */
  server: number;
  postgres: number;
  loadGenerator: number;
}

/**
 * CPU time of the server under test, of every local Postgres process and of this process (the
 * load generator) over `work`. Postgres backends that exit during it are not counted.
 */
export async function measureCpu<T>(serverPid: number, work: () => Promise<T>): Promise<{ result: T; cpu: CpuSplit }> {
  const snapshot = async (): Promise<Map<number, number>> => {
    const pids = await postgresPids();
    return new Map(await Promise.all(pids.map(async (pid) => [pid, await processCpuSeconds(pid)] as const)));
  };
  const postgresBefore = await snapshot();
  const serverBefore = await processCpuSeconds(serverPid);
  const selfBefore = process.cpuUsage();
  const result = await work();
  const self = process.cpuUsage(selfBefore);
  const serverAfter = await processCpuSeconds(serverPid);
  let postgres = 0;
  for (const [pid, seconds] of await snapshot()) postgres += seconds - (postgresBefore.get(pid) ?? 0);
  return { result, cpu: { server: serverAfter - serverBefore, postgres, loadGenerator: (self.user + self.system) / 1e6 } };
}
