// The failover profile of the chaos harness (`npm run chaos -- --failover`): the service runs on a
// primary with a streaming standby, through a TCP relay that stands for the database's address
// (a virtual IP, a DNS name, a proxy). Mid-load the primary is SIGKILLed — postmaster and backends
// at once: nothing flushed, nothing said to clients — the standby is promoted, and the relay
// sends new connections to it. What the clients were told before the kill must all be on the
// standby (with synchronous_commit=on it is: the commit waited for it); the figures say what was
// acknowledged, lost, done twice, answered 503 and how long until the first 2xx after the switch.
import { setTimeout as sleep } from 'node:timers/promises';
import { TcpRelay } from './relay.ts';
import { startReplicatedCluster, type ReplicatedCluster } from './standby.ts';

export interface FailoverOptions {
  /** The primary's synchronous_commit: `on` (the default of the profile) or `remote_apply` wait for the standby; `local` and `off` do not. */
  synchronousCommit: string;
}

export class Failover {
  private killedAt: number | undefined;
  private promotedAt: number | undefined;
  private switchedAt: number | undefined;
  private firstSuccessAfterSwitch: number | undefined;
  private readonly fiveHundreds: Record<number, number> = {};

  private constructor(
    private readonly cluster: ReplicatedCluster,
    private readonly relay: TcpRelay,
    readonly options: FailoverOptions,
  ) {}

  static async start(options: FailoverOptions, log: (line: string) => void): Promise<Failover> {
    const cluster = await startReplicatedCluster({ synchronousCommit: options.synchronousCommit, log });
    const relay = await TcpRelay.start({ host: '127.0.0.1', port: cluster.primaryPort });
    return new Failover(cluster, relay, options);
  }

  /** The server the harness creates its database on: the primary, through the relay. */
  get serverUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.relay.port}/postgres`;
  }

  get description(): string {
    return this.cluster.description;
  }

  /** Every HTTP answer a client gets, as it gets it. */
  readonly observe = (status: number): void => {
    if (this.killedAt === undefined) return;
    if (status >= 500) this.fiveHundreds[status] = (this.fiveHundreds[status] ?? 0) + 1;
    if (status < 300 && this.switchedAt !== undefined) this.firstSuccessAfterSwitch ??= Date.now();
  };

  /** Waits until `at`, then fails the primary over to the standby. */
  async inject(at: number, log: (line: string) => void): Promise<void> {
    await sleep(Math.max(0, at - Date.now()));
    this.killedAt = Date.now();
    await this.cluster.killPrimary();
    this.relay.cutAll(); // what the kernel of a dead host's peer sees sooner or later: the connections are gone
    log('primary killed; promoting the standby');
    await this.cluster.promoteStandby();
    this.promotedAt = Date.now();
    this.relay.retarget({ host: '127.0.0.1', port: this.cluster.standbyPort });
    this.switchedAt = Date.now();
    log(`standby promoted after ${this.promotedAt - this.killedAt} ms; the relay now leads to it`);
  }

  /** The figures, given when each acknowledged operation was acknowledged, and when each lost one was. */
  lines(acknowledgedAt: number[], lostAt: number[]): string[] {
    const killedAt = this.killedAt;
    if (killedAt === undefined || this.switchedAt === undefined) return ['failover: did not happen (FAILS)'];
    const recovery = this.firstSuccessAfterSwitch === undefined ? 'no 2xx after the switch (FAILS)' : `first 2xx ${this.firstSuccessAfterSwitch - this.switchedAt} ms after the switch, ${this.firstSuccessAfterSwitch - killedAt} ms after the kill`;
    const before = lostAt.map((at) => killedAt - at).sort((a, b) => a - b);
    const lastSecond = acknowledgedAt.filter((at) => at <= killedAt && at > killedAt - 1_000).length;
    return [
      `database: ${this.description}`,
      `failover: primary SIGKILLed, standby promoted ${(this.promotedAt ?? this.switchedAt) - killedAt} ms later, relay switched ${this.switchedAt - killedAt} ms after the kill`,
      `recovery: ${recovery}; 5xx from the kill on: ${JSON.stringify(this.fiveHundreds)}`,
      `writes acknowledged in the second before the kill: ${lastSecond}; acknowledged writes lost: ${before.length}${before.length > 0 ? ` (acknowledged ${before[0]} to ${before.at(-1)} ms before the kill)` : ''}`,
    ];
  }

  get recovered(): boolean {
    return this.firstSuccessAfterSwitch !== undefined;
  }

  async stop(): Promise<void> {
    await this.relay.close();
    await this.cluster.stop();
  }
}
