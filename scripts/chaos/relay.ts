// A TCP relay between the service and Postgres, to make the network misbehave on purpose (the
// chaos harness's failover profile and the silent-connection tests use it):
//  - silence(): stop forwarding, in both directions, without closing anything — as when the
//    database host vanishes or a firewall drops the flow: no FIN, no RST, only silence. The bytes
//    stay queued (in this process and the kernels' buffers) and flow on resume(), as TCP would
//    deliver them once a partition heals. With `newConnections: 'forward'` only the connections
//    open now go silent and new ones work (the host is back, the old flows are not).
//  - retarget(): new connections go to another server (failover to a promoted standby).
// A connection closed by one side is closed on the other, except while silent.
import net from 'node:net';

interface Target {
  host: string;
  port: number;
}

class RelayedConnection {
  silent = false;
  /** Closes that happened while silent: passed on at resume. */
  private held: (() => void)[] = [];

  constructor(
    readonly downstream: net.Socket,
    readonly upstream: net.Socket,
  ) {
    this.pipe(downstream, upstream);
    this.pipe(upstream, downstream);
  }

  private pipe(from: net.Socket, to: net.Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!this.silent) from.resume();
    });
    // An orderly close ('end') comes after the bytes before it, so it waits while reading is paused;
    // a reset does not: held until resume, so that silence stays silence.
    from.on('end', () => to.end());
    from.on('error', () => this.passOn(() => to.destroy()));
    from.on('close', () => this.passOn(() => to.destroy()));
  }

  private passOn(close: () => void): void {
    if (this.silent) this.held.push(close);
    else close();
  }

  silence(): void {
    this.silent = true;
    this.downstream.pause();
    this.upstream.pause();
  }

  resume(): void {
    this.silent = false;
    this.downstream.resume();
    this.upstream.resume();
    for (const close of this.held.splice(0)) close();
  }

  destroy(): void {
    this.downstream.destroy();
    this.upstream.destroy();
  }
}

export class TcpRelay {
  private readonly connections = new Set<RelayedConnection>();
  private silenceNew = false;

  private readonly server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  port = 0;

  private constructor(private target: Target) {}

  /** Listens on 127.0.0.1 (`port`, default any free one) and relays every connection to `target`. */
  static async start(target: Target, port = 0): Promise<TcpRelay> {
    const relay = new TcpRelay(target);
    await new Promise<void>((resolve, reject) => {
      relay.server.once('error', reject);
      relay.server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = relay.server.address();
    if (typeof address !== 'object' || !address) throw new Error('the relay has no address');
    relay.port = address.port;
    return relay;
  }

  /** `url` (a postgres:// connection string) with its host and port replaced by the relay's. */
  url(url: string): string {
    const through = new URL(url);
    through.hostname = '127.0.0.1';
    through.port = String(this.port);
    return through.toString();
  }

  /** Connections open now. */
  get open(): number {
    return this.connections.size;
  }

  /** Stops forwarding on every open connection, and (unless `newConnections: 'forward'`) on those to come. Nothing is closed. */
  silence(options: { newConnections?: 'silent' | 'forward' } = {}): void {
    this.silenceNew = options.newConnections !== 'forward';
    for (const connection of this.connections) connection.silence();
  }

  /** Forwards again, on every connection, what was held back and what comes. */
  resume(): void {
    this.silenceNew = false;
    for (const connection of this.connections) connection.resume();
  }

  /** New connections go to `target`; open ones stay where they are. */
  retarget(target: Target): void {
    this.target = target;
  }

  /** Closes every open connection at once (both sides), as a crashed server's kernel would. */
  cutAll(): void {
    for (const connection of this.connections) connection.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(downstream: net.Socket): void {
    const upstream = net.connect({ host: this.target.host, port: this.target.port });
    upstream.setNoDelay(true);
    downstream.setNoDelay(true);
    const connection = new RelayedConnection(downstream, upstream);
    this.connections.add(connection);
    let open = 2;
    const closed = () => {
      if (--open === 0) this.connections.delete(connection);
    };
    downstream.once('close', closed);
    upstream.once('close', closed);
    if (this.silenceNew) connection.silence();
    else downstream.resume();
  }
}
