// Child processes of the chaos harness: API and worker roles of src/main.ts, restartable.
import { spawn, type ChildProcess } from 'node:child_process';

export class ManagedProcess {
  private child: ChildProcess | undefined;
  kills = 0;
  restarts = 0;
  /** Exits nobody asked for: each one is a crash of the service. */
  crashes = 0;
  private expectingExit = false;

  constructor(
    readonly name: string,
    private readonly role: 'api' | 'worker',
    private readonly env: Record<string, string>,
    readonly port?: number,
  ) {}

  /** The last error lines the service logged (JSON, cut at 600 characters). */
  errors: string[] = [];

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    this.child = spawn(process.execPath, ['--import=tsx', 'src/main.ts', this.role], {
      env: { ...process.env, ...this.env, LOG_LEVEL: 'error', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The service logs at error level here: keep its last error lines, so a 500 can be explained.
    this.child.stdout?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (/"level":(50|60)/.test(line)) this.errors = [...this.errors.slice(-9), line.slice(0, 600)];
    });
    let stderr = '';
    this.child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
    this.expectingExit = false;
    this.child.once('exit', (code, signal) => {
      if (this.expectingExit) return;
      this.crashes++;
      process.stderr.write(`# ${this.name} exited by itself (${signal ?? code}): ${stderr}\n`);
    });
    if (this.port !== undefined) await this.waitUntilListening(this.port);
  }

  private async waitUntilListening(port: number): Promise<void> {
    const deadline = Date.now() + 60_000; // tsx compiling src/ on a busy machine can take half of it
    while (Date.now() < deadline) {
      try {
        const reply = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(500) });
        if (reply.ok) return;
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.name} did not start`);
  }

  /** SIGKILL: no shutdown hooks, no finished jobs, no released leases. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    this.expectingExit = true;
    child.kill('SIGKILL');
    await exited;
    this.kills++;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
    this.restarts++;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    this.expectingExit = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
