// A webhook receiver on 127.0.0.1 that records every request and can be switched between
// answering 200, answering 500, never answering, and not listening at all (connection refused).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookHeaders } from '../../src/webhooks/signing.ts';

export interface ReceivedWebhook {
  path: string;
  contentType: string;
  headers: WebhookHeaders;
  body: string;
  status: number;
}

export type ReceiverMode = 'ok' | 'error' | 'hang';

export class Receiver {
  mode: ReceiverMode = 'ok';
  /** Delay before answering, to make overlapping deliveries visible. */
  delayMs = 0;
  readonly received: ReceivedWebhook[] = [];
  /** Largest number of requests for the same (path, webhook-id) that were in flight at once. */
  maxOverlap = 0;
  private readonly inFlight = new Map<string, number>();
  private server: http.Server | undefined;
  private port = 0;

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Listens (again) on the same port as before, or on a new one the first time. */
  async start(): Promise<void> {
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const header = (name: string) => String(request.headers[name] ?? '');
        const key = `${request.url ?? ''} ${header('webhook-id')}`;
        const overlap = (this.inFlight.get(key) ?? 0) + 1;
        this.inFlight.set(key, overlap);
        this.maxOverlap = Math.max(this.maxOverlap, overlap);
        const mode = this.mode;
        const status = mode === 'ok' ? 200 : 500;
        this.received.push({
          path: request.url ?? '',
          contentType: header('content-type'),
          headers: { 'webhook-id': header('webhook-id'), 'webhook-timestamp': header('webhook-timestamp'), 'webhook-signature': header('webhook-signature') },
          body: Buffer.concat(chunks).toString('utf8'),
          status: mode === 'hang' ? 0 : status,
        });
        const finish = () => {
          this.inFlight.set(key, (this.inFlight.get(key) ?? 1) - 1);
          if (mode !== 'hang') response.writeHead(status, { 'content-type': 'text/plain' }).end(mode === 'ok' ? 'thanks' : 'broken');
        };
        if (this.delayMs > 0) setTimeout(finish, this.delayMs);
        else finish();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and cuts every connection: further deliveries are refused. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
