// Crash points for tests: with FAILPOINT=<name> in its environment, a worker kills itself with
// SIGKILL exactly there, so tests can prove that another worker finishes the job without a
// second charge. Names mark the gaps between the atomic phases of a payment.
export const FAILPOINTS = ['before-charge', 'after-charge', 'after-confirm', 'inside-credit'] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

const armed = process.env['FAILPOINT'];

export function failpoint(name: Failpoint): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}
