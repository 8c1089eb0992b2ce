import type { PhaseObservation } from '../phases/runner.ts';
import type { OperationsJournal } from './journal.ts';

/** The worker's (and reconciliation's) phase runs into the contexts' timelines. */
export function journalPhases(journal: OperationsJournal): (observation: PhaseObservation) => void {
  return (observation) =>
    journal.record({
      tenantId: observation.tenantId,
      contextId: observation.contextId,
      at: new Date(),
      kind: 'phase',
      outcome: observation.outcome,
      detail: {
        phase: observation.phase,
        kind: observation.kind,
        attempt: observation.attempt,
        recoveryPoint: observation.recoveryPoint,
        ms: observation.ms,
        worker: observation.holder,
        mode: observation.mode,
        ...(observation.error === undefined ? {} : { error: observation.error.slice(0, 500) }),
      },
    });
}
