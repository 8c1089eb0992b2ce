// Request limits of the API (docs/rate-limits.md): a request rate and a number of requests in
// progress per credential (a tenant's API key, the ADMIN_TOKEN), and a number of failed
// authentications per client address. A request over a limit is answered 429 (RFC 6585 §4)
// before its route runs, so it has done no database work, with Retry-After and the RateLimit /
// RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers-11.
//
// Rates are counted by rate-limiter-flexible in fixed windows that start with a key's first
// request (its in-memory store by default, any of its shared stores when given one); requests in
// progress by ConcurrencySlots, always in this process, beside the database pool they protect.
import type { Context } from 'koa';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimitSettings } from '../config.ts';
import { delaySeconds, rateLimitField, rateLimitPolicyField, type QuotaPolicy, type ServiceLimit } from '../protocol/rate-limit-fields.ts';
import { ConcurrencySlots } from './concurrency-slots.ts';
import { ProblemError } from './problems.ts';

/** Whose quota a request spends: a tenant's (keyed by its id) or the administrator's. */
export type Credential = 'tenant' | 'admin';

/** Makes the counter of one policy; the default keeps it in this process's memory. */
export type RateLimitStore = (options: { keyPrefix: string; points: number; duration: number }) => RateLimiterAbstract;

export const memoryStore: RateLimitStore = (options) => new RateLimiterMemory(options);

/** Set on an admitted request: a long-poll gives its concurrency slot back while it waits. */
export type SlotYield = <T>(waiting: Promise<T>) => Promise<T>;

interface RatePolicy {
  readonly policy: QuotaPolicy;
  readonly counter: RateLimiterAbstract;
}

interface ConcurrencyPolicy {
  readonly policy: QuotaPolicy;
  readonly slots: ConcurrencySlots;
}

/** Distinct credentials whose success this process remembers (see refuseAfterFailures). */
const KNOWN_CREDENTIALS = 10_000;

export class RequestLimits {
  private readonly rates = new Map<Credential, RatePolicy>();
  private readonly concurrency = new Map<Credential, ConcurrencyPolicy>();
  /** The RateLimit-Policy value of each credential, built once. */
  private readonly policyFields = new Map<Credential, string>();
  private readonly failures: RatePolicy | undefined;
  private readonly known = new LRUCache<string, true>({ max: KNOWN_CREDENTIALS });

  /** Undefined when every limit is off: the app then runs no limiting code at all. */
  static create(settings: RateLimitSettings, logger: Logger, store: RateLimitStore = memoryStore): RequestLimits | undefined {
    const any = [settings.tenantRequestsPerSecond, settings.tenantConcurrency, settings.adminRequestsPerSecond, settings.adminConcurrency, settings.authFailures];
    return any.some((value) => value > 0) ? new RequestLimits(settings, logger, store) : undefined;
  }

  private constructor(
    private readonly settings: RateLimitSettings,
    private readonly logger: Logger,
    store: RateLimitStore,
  ) {
    const rate = (name: string, perWindow: number, windowSeconds: number): RatePolicy => ({
      policy: { name, quota: perWindow, windowSeconds },
      counter: store({ keyPrefix: `idempotence-${name}`, points: perWindow, duration: windowSeconds }),
    });
    for (const [credential, perSecond, inProgress] of [
      ['tenant', settings.tenantRequestsPerSecond, settings.tenantConcurrency],
      ['admin', settings.adminRequestsPerSecond, settings.adminConcurrency],
    ] as const) {
      const policies: QuotaPolicy[] = [];
      if (perSecond > 0) {
        const limit = rate(credential, perSecond * settings.windowSeconds, settings.windowSeconds);
        this.rates.set(credential, limit);
        policies.push(limit.policy);
      }
      if (inProgress > 0) {
        // §3.1.2: a quota of concurrent requests has a unit and no window.
        const policy: QuotaPolicy = { name: `${credential}-concurrency`, quota: inProgress, unit: 'concurrent-requests' };
        this.concurrency.set(credential, { policy, slots: new ConcurrencySlots(inProgress) });
        policies.push(policy);
      }
      if (policies.length > 0) this.policyFields.set(credential, rateLimitPolicyField(policies));
    }
    this.failures = settings.authFailures > 0 ? rate('auth-failures', settings.authFailures, settings.authFailureWindowSeconds) : undefined;
  }

  /**
   * Runs `next` under the rate and the concurrency of `credential` (`key`: the tenant's id), or
   * throws the 429 of the first limit it is over. Counted: every request that authenticated,
   * whatever it is answered.
   */
  async admit(ctx: Context, credential: Credential, key: string, next: () => Promise<unknown>): Promise<void> {
    const rate = this.rates.get(credential);
    if (rate) {
      const left = await this.spend(rate, key);
      if (left.remainingPoints < 0) {
        const seconds = delaySeconds(left.msBeforeNext);
        throw this.tooMany(credential, rate.policy, { policy: rate.policy.name, remaining: 0, resetSeconds: seconds }, seconds,
          `This ${credential === 'tenant' ? 'tenant' : 'administrator'} has used its ${rate.policy.quota} requests of this ${rate.policy.windowSeconds ?? 1} s window; retry the same request in ${seconds} s.`);
      }
      // Draft §6.2: the fields only once the quota runs low, so that most answers carry no extra bytes.
      if (left.remainingPoints * 2 < rate.policy.quota) {
        ctx.set('RateLimit-Policy', this.policyFields.get(credential) ?? '');
        ctx.set('RateLimit', rateLimitField([{ policy: rate.policy.name, remaining: left.remainingPoints, resetSeconds: delaySeconds(left.msBeforeNext) }]));
      }
    }
    const limit = this.concurrency.get(credential);
    if (!limit) {
      await next();
      return;
    }
    const granted = limit.slots.acquire(key, this.settings.concurrencyWaitMs);
    if (granted !== true && !(await granted)) {
      throw this.tooMany(credential, limit.policy, { policy: limit.policy.name, remaining: 0 }, 1,
        `This ${credential === 'tenant' ? 'tenant' : 'administrator'} already has ${limit.policy.quota} requests in progress, its limit${this.settings.concurrencyWaitMs > 0 ? `, and none of them finished within ${this.settings.concurrencyWaitMs} ms` : ''}; retry the same request in a moment.`);
    }
    let holding = true;
    const yieldSlot: SlotYield = async (waiting) => {
      limit.slots.release(key);
      holding = false;
      try {
        return await waiting;
      } finally {
        // Back in line for the reads after the wait; without a time limit, as it waited its turn once.
        await limit.slots.acquire(key, Infinity);
        holding = true;
      }
    };
    (ctx.state as { yieldSlot?: SlotYield }).yieldSlot = yieldSlot;
    try {
      await next();
    } finally {
      if (holding) limit.slots.release(key);
    }
  }

  /**
   * Throws 429 when the client's address has failed to authenticate too often in this window,
   * before its credential is checked: guessing goes no faster than the limit, and a flood of
   * random keys costs no lookups. `credential` (a key's hash) that authenticated in this process
   * before is still checked, so that the clients behind one proxy keep working while another of
   * them fails; the ADMIN_TOKEN passes none (its guesser would learn from the exception).
   */
  async refuseAfterFailures(ctx: Context, credential?: string): Promise<void> {
    if (!this.failures || (credential !== undefined && this.known.has(credential))) return;
    const failed = await this.failures.counter.get(ctx.ip).catch((error: unknown) => this.storeFailed(error));
    if (!failed || failed.consumedPoints < this.failures.policy.quota) return;
    const seconds = delaySeconds(failed.msBeforeNext);
    throw this.tooMany(undefined, this.failures.policy, { policy: this.failures.policy.name, remaining: 0, resetSeconds: seconds }, seconds,
      `${failed.consumedPoints} failed authentications from this address within ${this.failures.policy.windowSeconds ?? 0} s; credentials from it are not checked for ${seconds} s.`);
  }

  /** Counts a credential that was sent and is not valid against the client's address. */
  async countFailure(ctx: Context): Promise<void> {
    await this.failures?.counter.penalty(ctx.ip).catch((error: unknown) => this.storeFailed(error));
  }

  /** Remembers a credential (a key's hash) that authenticated. */
  rememberValid(credential: string): void {
    if (this.failures) this.known.set(credential, true);
  }

  /** Spends one request of `key`; remainingPoints below 0 means over the limit. */
  private async spend(rate: RatePolicy, key: string): Promise<{ remainingPoints: number; msBeforeNext: number }> {
    try {
      return await rate.counter.consume(key);
    } catch (error) {
      if (error instanceof RateLimiterRes) return { remainingPoints: -1, msBeforeNext: error.msBeforeNext };
      // A shared store that cannot be reached lets requests through: the limits protect the
      // service, and the store being down is no reason to refuse every client.
      this.storeFailed(error);
      return { remainingPoints: rate.policy.quota, msBeforeNext: 0 };
    }
  }

  private storeFailed(error: unknown): null {
    this.logger.warn({ err: error }, 'rate limit store failed; the request is not limited');
    return null;
  }

  private tooMany(credential: Credential | undefined, violated: QuotaPolicy, limit: ServiceLimit, retryAfterSeconds: number, detail: string): ProblemError {
    const policies = credential === undefined ? rateLimitPolicyField([violated]) : (this.policyFields.get(credential) ?? rateLimitPolicyField([violated]));
    return new ProblemError('too-many-requests', detail, {
      headers: { 'Retry-After': String(retryAfterSeconds), 'RateLimit-Policy': policies, RateLimit: rateLimitField([limit]) },
      // Draft §5.1 names the policies a refused request exceeded in this member.
      extensions: { 'violated-policies': [violated.name] },
    });
  }
}
