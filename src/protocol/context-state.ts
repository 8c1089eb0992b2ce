// The life of an idempotence context. `expired` is derived, never stored: an open context whose
// expiry has passed reads as expired, and no write is needed to make it so.

export const storedStates = ['open', 'succeeded', 'failed', 'cancelled'] as const;
export type StoredState = (typeof storedStates)[number];

export const contextStates = ['open', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type ContextState = (typeof contextStates)[number];

/** The transitions a stored context may take; everything else is refused by the service. */
const transitions: Readonly<Record<StoredState, readonly StoredState[]>> = {
  open: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: StoredState, to: StoredState): boolean {
  return transitions[from].includes(to);
}

export function isExecuted(state: ContextState): state is 'succeeded' | 'failed' {
  return state === 'succeeded' || state === 'failed';
}

export function effectiveState(stored: StoredState, expiresAt: Date, now: Date): ContextState {
  return stored === 'open' && expiresAt.getTime() <= now.getTime() ? 'expired' : stored;
}

export function isContextState(value: string): value is ContextState {
  return (contextStates as readonly string[]).includes(value);
}
