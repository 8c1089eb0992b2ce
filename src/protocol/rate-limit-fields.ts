// The RateLimit-Policy and RateLimit response fields of the IETF httpapi draft "RateLimit
// header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers-11, §3 and §4). Both are
// Structured Field Lists (RFC 9651 §3.1) of Items whose value is a String naming the policy:
//
//   RateLimit-Policy: "tenant";q=100;w=1, "tenant-concurrency";q=8;qu="concurrent-requests"
//   RateLimit: "tenant";r=0;t=1
//
// Pure: the limiter decides, this module only spells its decision.

/** A quota policy (draft §3.1): `q` units per `w` seconds, or `q` concurrent requests. */
export interface QuotaPolicy {
  /** The policy's name, an sf-string; the RateLimit item that reports on it carries the same name. */
  readonly name: string;
  /** §3.1.1 `q`: the quota, a non-negative Integer. */
  readonly quota: number;
  /** §3.1.3 `w`: the window in whole seconds (> 0); absent for a concurrency policy, which has none. */
  readonly windowSeconds?: number;
  /** §3.1.2 `qu`: absent means the default unit, "requests". */
  readonly unit?: 'concurrent-requests';
}

/** A service limit (draft §4.1): `r` units left under the named policy, for `t` more seconds. */
export interface ServiceLimit {
  readonly policy: string;
  /** §4.1.1 `r`: the available quota, a non-negative Integer. */
  readonly remaining: number;
  /** §4.1.2 `t`: seconds until the window ends (delay-seconds); absent when the policy has no window. */
  readonly resetSeconds?: number;
}

// RFC 9651 §3.3.3: an sf-string holds printable ASCII; `"` and `\` are escaped. Policy names are
// this service's own constants, so anything else is a programming error, not input.
function sfString(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new TypeError(`policy name ${JSON.stringify(value)} is not an sf-string`);
  return `"${value.replace(/["\\]/g, (ch) => `\\${ch}`)}"`;
}

// RFC 9651 §3.3.1: an sf-integer is at most 15 digits; quotas and seconds are far below that.
function sfInteger(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${value} is not a non-negative integer`);
  return String(value);
}

/** The RateLimit-Policy field value for these policies. */
export function rateLimitPolicyField(policies: readonly QuotaPolicy[]): string {
  return policies
    .map((policy) => {
      let item = `${sfString(policy.name)};q=${sfInteger(policy.quota)}`;
      if (policy.unit !== undefined) item += `;qu=${sfString(policy.unit)}`;
      if (policy.windowSeconds !== undefined) item += `;w=${sfInteger(Math.max(1, policy.windowSeconds))}`; // §3.1.3: w > 0
      return item;
    })
    .join(', ');
}

/** The RateLimit field value for these service limits. */
export function rateLimitField(limits: readonly ServiceLimit[]): string {
  return limits
    .map((limit) => {
      let item = `${sfString(limit.policy)};r=${sfInteger(limit.remaining)}`;
      if (limit.resetSeconds !== undefined) item += `;t=${sfInteger(limit.resetSeconds)}`;
      return item;
    })
    .join(', ');
}

/**
 * Milliseconds left in a window as delay-seconds (RFC 9110 §10.2.3), rounded up and at least 1:
 * a client that waits that long finds the window over. Retry-After and `t` use the same value,
 * as the draft asks (§6: Retry-After not earlier than the end of the effective window).
 */
export function delaySeconds(milliseconds: number): number {
  return Math.max(1, Math.ceil(milliseconds / 1000));
}
