/**
 * Seconds until a job whose outcome stayed unknown is due again: doubling per attempt from
 * `baseMs` up to `capMs`, with "equal jitter" (between half of that and all of it) so that jobs
 * that failed together do not all come back together.
 */
export function retryDelaySeconds(attempts: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(baseMs * 2 ** Math.max(0, attempts - 1), capMs);
  return (exponential / 2 + (random() * exponential) / 2) / 1000;
}
