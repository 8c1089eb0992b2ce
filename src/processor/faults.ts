// Fault injection for the simulated card processor. The app reads the FaultConfig object on every
// request, so a test (or an operator's REPL) can change it while the processor runs.

export interface FaultConfig {
  /** Probability that a POST /charges records the charge and then answers 500. */
  failAfterChargeRate: number;
  /** Probability that a POST /charges records the charge, hangs hangMs, then drops the connection unanswered. */
  timeoutAfterChargeRate: number;
  /** How long a "timeout after charge" hangs before the socket is destroyed. */
  hangMs: number;
  /** Delay before a (valid) POST /charges is acted on. */
  slowMs: number;
  /** Probability that a POST /charges answers 503 without charging. */
  refuseBeforeChargeRate: number;
  /** Extra sources that are known to the processor and always declined. */
  declineSources: string[];
}

export function defaultFaultConfig(): FaultConfig {
  return {
    failAfterChargeRate: 0,
    timeoutAfterChargeRate: 0,
    hangMs: 10_000,
    slowMs: 0,
    refuseBeforeChargeRate: 0,
    declineSources: [],
  };
}

export class FaultConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid processor fault configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'FaultConfigError';
  }
}

type Env = Record<string, string | undefined>;

const MAX_DELAY_MS = 600_000;

/** Reads the PROCESSOR_* variables; every bad value is reported in one error. Unset means off. */
export function loadFaultConfig(env: Env = process.env): FaultConfig {
  const problems: string[] = [];
  const config = defaultFaultConfig();
  const text = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const rate = (name: string, fallback: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(raw) || value < 0 || value > 1) {
      problems.push(`${name} must be a number from 0 to 1 (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const delay = (name: string, fallback: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value > MAX_DELAY_MS) {
      problems.push(`${name} must be a whole number of milliseconds from 0 to ${MAX_DELAY_MS} (got "${raw}")`);
      return fallback;
    }
    return value;
  };

  config.failAfterChargeRate = rate('PROCESSOR_FAIL_AFTER_CHARGE_RATE', config.failAfterChargeRate);
  config.timeoutAfterChargeRate = rate('PROCESSOR_TIMEOUT_AFTER_CHARGE_RATE', config.timeoutAfterChargeRate);
  config.refuseBeforeChargeRate = rate('PROCESSOR_REFUSE_BEFORE_CHARGE_RATE', config.refuseBeforeChargeRate);
  config.hangMs = delay('PROCESSOR_HANG_MS', config.hangMs);
  config.slowMs = delay('PROCESSOR_SLOW_MS', config.slowMs);

  const sources = text('PROCESSOR_DECLINE_SOURCES');
  if (sources !== undefined) {
    config.declineSources = sources.split(',').map((source) => source.trim()).filter((source) => source !== '');
    const bad = config.declineSources.filter((source) => !/^[\x21-\x7e]{1,255}$/.test(source));
    if (bad.length > 0) {
      problems.push(`PROCESSOR_DECLINE_SOURCES must be a comma-separated list of visible ASCII tokens (bad: ${bad.map((s) => `"${s}"`).join(', ')})`);
    }
  }

  if (problems.length > 0) throw new FaultConfigError(problems);
  return config;
}

/** True with probability `rate`. A rate of 1 always fires and 0 never does, whatever `random` returns. */
export function roll(rate: number, random: () => number = Math.random): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return random() < rate;
}
