// RFC 9457 problems of the simulated processor. They are the processor's own (another party's
// API), so they live apart from the service's catalog in src/http/problems.ts.
import type { Context } from 'koa';

export const PROCESSOR_PROBLEM_BASE = 'https://idempotence.dev/processor/problems/';

export const processorProblems = {
  'invalid-idempotency-key': { status: 400, title: 'Missing or malformed Idempotency-Key header' },
  'malformed-body': { status: 400, title: 'Malformed request body' },
  'invalid-parameter': { status: 400, title: 'Invalid query parameter' },
  'charge-not-found': { status: 404, title: 'No charge with this idempotency key' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'payload-too-large': { status: 413, title: 'Request body too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'validation-failed': { status: 422, title: 'The request body is not a valid charge' },
  'unknown-source': { status: 422, title: 'Unknown payment source' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency key reused with another request' },
  'injected-failure': { status: 500, title: 'Internal error (injected after the charge)' },
  'internal-error': { status: 500, title: 'Internal server error' },
  'unavailable': { status: 503, title: 'Processor temporarily unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProcessorProblemSlug = keyof typeof processorProblems;

/** Thrown below a route; the processor's error middleware answers it. */
export class ProcessorProblem extends Error {
  readonly slug: ProcessorProblemSlug;
  readonly detail: string | undefined;

  constructor(slug: ProcessorProblemSlug, detail?: string) {
    super(detail ?? processorProblems[slug].title);
    this.name = 'ProcessorProblem';
    this.slug = slug;
    this.detail = detail;
  }
}

export function sendProcessorProblem(ctx: Context, slug: ProcessorProblemSlug, detail?: string): void {
  const entry = processorProblems[slug];
  ctx.status = entry.status;
  ctx.type = 'application/problem+json';
  ctx.body = JSON.stringify({
    type: PROCESSOR_PROBLEM_BASE + slug,
    title: entry.title,
    status: entry.status,
    ...(detail === undefined ? {} : { detail }),
    instance: ctx.path,
  });
}
