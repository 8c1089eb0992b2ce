// The life of an idempotence context. `expired` is derived, never stored: an open context whose
// expiry has passed reads as expired, and no write is needed to make it so.

export const storedStates = ['open', 'processing', 'succeeded', 'failed', 'cancelled'] as const;
export type StoredState = (typeof storedStates)[number];

export const contextStates = ['open', 'processing', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type ContextState = (typeof contextStates)[number];

/** The transitions a stored context may take; everything else is refused by the service. */
const transitions: Readonly<Record<StoredState, readonly StoredState[]>> = {
  open: ['processing', 'succeeded', 'failed', 'cancelled'],
  processing: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: StoredState, to: StoredState): boolean {
  return transitions[from].includes(to);
}

/** Final outcomes: the representation never changes again. */
export function isExecuted(state: ContextState): state is 'succeeded' | 'failed' {
  return state === 'succeeded' || state === 'failed';
}

/** The context has taken its one action (it may still be completing it asynchronously). */
export function hasAcceptedAction(state: ContextState): state is 'processing' | 'succeeded' | 'failed' {
  return state === 'processing' || isExecuted(state);
}

/** States a long-poll (Prefer: wait) waits on: something may still happen to the context. */
export function mayStillChange(state: ContextState): boolean {
  return state === 'open' || state === 'processing';
}

export function effectiveState(stored: StoredState, expiresAt: Date, now: Date): ContextState {
  return stored === 'open' && expiresAt.getTime() <= now.getTime() ? 'expired' : stored;
}

export function isContextState(value: string): value is ContextState {
  return (contextStates as readonly string[]).includes(value);
}
