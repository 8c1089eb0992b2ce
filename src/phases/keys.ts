import { createHash } from 'node:crypto';
import type { ActionScope } from '../actions/registry.ts';

/**
 * The idempotency key an external phase sends: derived from tenant, context and phase, never
 * random, so every retry and every worker that takes the job over sends the same one, and the
 * provider can never do the work twice. The tenant and context ids are hashed (a provider needs
 * no ids of ours); the phase name stays readable for whoever looks at the provider's side.
 * 1 + 64 + 1 + 43 characters at most, of [A-Za-z0-9_-].
 */
export function phaseKey(scope: ActionScope, phase: string): string {
  const digest = createHash('sha256').update(`idempotence-phase\0${scope.tenantId}\0${scope.contextId}\0${phase}`).digest('base64url');
  return `${phase}_${digest}`;
}
