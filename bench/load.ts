// HTTP load with autocannon over loopback, summarised as the same Measurement pgbench runs give.
import autocannon from 'autocannon';

export interface Measurement {
  /** Operations per second (a create-then-execute pair counts once). */
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses by status code; pgbench runs report their failed transactions under "error". */
  statuses: Record<string, number>;
  errors: number;
  /** CPU milliseconds per operation of the server, of Postgres and of the load generator (HTTP runs). */
  cpuMsPerOp?: { server: number; postgres: number; loadGenerator: number };
}

export interface HttpRequestSpec {
  method: 'GET' | 'PUT' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  url: string;
  connections: number;
  durationSeconds: number;
  /** Requests that make up one operation, in order; `next` is called for the first of each. */
  next: (context: Record<string, unknown>) => HttpRequestSpec;
  /** For two-request operations: the second, built from the first one's response. */
  then?: (context: Record<string, unknown>) => HttpRequestSpec;
  onFirstResponse?: (status: number, body: string, headers: Record<string, string>, context: Record<string, unknown>) => void;
  /** Requests per operation (2 for create-then-execute). */
  requestsPerOperation?: number;
}

export async function runLoad(options: LoadOptions): Promise<Measurement> {
  const requests: autocannon.Request[] = [
    {
      setupRequest: (request, context) => ({ ...request, ...options.next(context as Record<string, unknown>) }),
      ...(options.onFirstResponse
        ? {
            // autocannon keeps the raw header names; the caller gets them in lower case.
            onResponse: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) =>
              options.onFirstResponse?.(status, body, Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])), context),
          }
        : {}),
    } as autocannon.Request,
  ];
  if (options.then) {
    const then = options.then;
    requests.push({ setupRequest: (request, context) => ({ ...request, ...then(context as Record<string, unknown>) }) } as autocannon.Request);
  }
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    requests,
  });
  const statuses: Record<string, number> = {};
  const codes = (result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  for (const [code, stats] of Object.entries(codes)) statuses[code] = stats.count;
  return {
    throughput: result.requests.average / (options.requestsPerOperation ?? 1),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    statuses,
    errors: result.errors + result.timeouts,
  };
}
