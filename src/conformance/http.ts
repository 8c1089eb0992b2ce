// The kit's HTTP client: global fetch with a timeout, every answer kept for the run-wide rows
// (problem+json on every 4xx, no 5xx).
import { Buffer } from 'node:buffer';

export const REQUEST_TIMEOUT_MS = 10_000;

export interface Reply {
  method: string;
  /** The request's path relative to the base (`/contexts/…`), for messages. */
  path: string;
  status: number;
  headers: Headers;
  bytes: Buffer;
  text: string;
  /** The parsed body, or undefined when it is empty or not JSON. */
  json: unknown;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Sent as JSON text (Content-Type: application/json); a string is sent as it is. */
  body?: unknown;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

export class Client {
  /** Every answer received during the run, in order of arrival. */
  readonly replies: Reply[] = [];
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(base: string, headers: Record<string, string>, timeoutMs = REQUEST_TIMEOUT_MS) {
    this.base = base.replace(/\/+$/, '');
    this.headers = headers;
    this.timeoutMs = timeoutMs;
  }

  /** The path of a context (or of the collection with no id), relative to the base. */
  contextPath(id?: string): string {
    return id === undefined ? '/contexts' : `/contexts/${encodeURIComponent(id)}`;
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...this.headers, ...options.headers };
    let body: string | undefined;
    if (typeof options.body === 'string') body = options.body;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/json';
    }
    const signal = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    let bytes: Buffer;
    try {
      response = await fetch(this.base + path, { method, headers, signal, redirect: 'manual', ...(body === undefined ? {} : { body }) });
      bytes = Buffer.from(await response.arrayBuffer());
    } catch (error) {
      const reason = signal.aborted ? `no answer within ${this.timeoutMs / 1000} s` : errorMessage(error);
      throw new Error(`${method} ${path}: ${reason}`);
    }
    const text = bytes.toString('utf8');
    const reply: Reply = { method, path, status: response.status, headers: response.headers, bytes, text, json: parseJson(text) };
    this.replies.push(reply);
    return reply;
  }
}
