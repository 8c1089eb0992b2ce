// idempotence-conformance: a black-box check of a server against the idempotence-context protocol.
export { DEFAULT_CONCURRENCY, formatResult, formatSummary, rows, runConformance } from './run.ts';
export { REQUEST_TIMEOUT_MS } from './http.ts';
export type { CheckResult, ConformanceOptions, ConformanceReport } from './types.ts';
