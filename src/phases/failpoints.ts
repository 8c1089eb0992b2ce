// Crash points for tests: a worker given `crashAt: '<boundary>-<phase>'` kills itself with
// SIGKILL exactly there, so tests can prove that another worker takes the job over without doing
// any external effect twice. The boundaries of a phase:
//   before-<phase>     claimed, nothing of the phase done yet
//   after-<phase>      an external phase's call returned; its recovery point is not committed
//   inside-<phase>     a transactional phase wrote its changes; the transaction is not committed
//   committed-<phase>  the phase's recovery point (or the final state) is committed
export const PHASE_BOUNDARIES = ['before', 'after', 'inside', 'committed'] as const;
export type PhaseBoundary = (typeof PHASE_BOUNDARIES)[number];

export function failpointNames(phases: readonly { kind: 'external' | 'transactional'; name: string }[]): string[] {
  return phases.flatMap((phase) =>
    PHASE_BOUNDARIES.filter((boundary) => (phase.kind === 'external' ? boundary !== 'inside' : boundary !== 'after')).map((boundary) => `${boundary}-${phase.name}`),
  );
}

export function crashIfArmed(armed: string | undefined, boundary: PhaseBoundary, phase: string): void {
  if (armed !== undefined && armed === `${boundary}-${phase}`) process.kill(process.pid, 'SIGKILL');
}
