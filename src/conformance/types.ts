// The shapes the conformance kit works with: its options, one row's outcome, one row's definition.
import type { Client } from './http.ts';

export interface ConformanceOptions {
  /** The service's base URL; contexts live at `<base>/contexts` (a path prefix is fine). */
  base: string;
  /** Sent with every request (Authorization, …). */
  headers: Record<string, string>;
  /** An action that succeeds; each request body is `{"action": <action>}`. */
  action: unknown;
  /** A different action; without it the rows that need one use a weaker form (a different body). */
  otherAction?: unknown;
  /** How many identical PUTs the concurrency row sends at once (default 50). */
  concurrency?: number;
  /** How long each request may take, in milliseconds (default 10 000); a request that takes longer fails its row. */
  timeoutMs?: number;
  /** Receives each printed line: a row's `ok`/`FAIL` line, then the summary. */
  log?: (line: string) => void;
}

export interface CheckResult {
  /** A stable short name of the row (`replay`, `concurrency`, …). */
  id: string;
  /** The rule the row checks, as printed. */
  name: string;
  ok: boolean;
  /** What was expected and what came, for a failed row. */
  detail?: string;
}

export interface ConformanceReport {
  results: CheckResult[];
  passed: number;
  failed: number;
}

/** What a row needs: the client (which records every answer) and the actions. */
export interface Kit {
  client: Client;
  action: unknown;
  otherAction: unknown;
  /** True when no other action was given: `otherBody` then differs from the action's body only by a member. */
  weak: boolean;
  concurrency: number;
}

export interface Row {
  id: string;
  name(kit: Kit): string;
  /** Throws (a Mismatch, or any error) when the rule does not hold. */
  run(kit: Kit): Promise<void>;
}
