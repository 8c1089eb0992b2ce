import test from 'ava';
import { FaultConfigError, defaultFaultConfig, loadFaultConfig, roll } from '../../src/processor/faults.ts';

test('every fault is off by default', (t) => {
  t.deepEqual(loadFaultConfig({}), {
    failAfterChargeRate: 0,
    timeoutAfterChargeRate: 0,
    hangMs: 10_000,
    slowMs: 0,
    refuseBeforeChargeRate: 0,
    declineSources: [],
  });
  t.deepEqual(loadFaultConfig({}), defaultFaultConfig());
});

test('reads every PROCESSOR_* variable', (t) => {
  const config = loadFaultConfig({
    PROCESSOR_FAIL_AFTER_CHARGE_RATE: '0.25',
    PROCESSOR_TIMEOUT_AFTER_CHARGE_RATE: '1',
    PROCESSOR_HANG_MS: '1500',
    PROCESSOR_SLOW_MS: '20',
    PROCESSOR_REFUSE_BEFORE_CHARGE_RATE: '.5',
    PROCESSOR_DECLINE_SOURCES: ' tok_visa_declined, tok_amex ,,',
  });
  t.deepEqual(config, {
    failAfterChargeRate: 0.25,
    timeoutAfterChargeRate: 1,
    hangMs: 1500,
    slowMs: 20,
    refuseBeforeChargeRate: 0.5,
    declineSources: ['tok_visa_declined', 'tok_amex'],
  });
});

test('names every bad value in one error', (t) => {
  const error = t.throws(
    () =>
      loadFaultConfig({
        PROCESSOR_FAIL_AFTER_CHARGE_RATE: '1.5',
        PROCESSOR_TIMEOUT_AFTER_CHARGE_RATE: '-0.1',
        PROCESSOR_REFUSE_BEFORE_CHARGE_RATE: 'often',
        PROCESSOR_HANG_MS: '10s',
        PROCESSOR_SLOW_MS: '-5',
        PROCESSOR_DECLINE_SOURCES: 'tok_ok,tok bad',
      }),
    { instanceOf: FaultConfigError },
  );
  t.is(error?.problems.length, 6);
  for (const name of [
    'PROCESSOR_FAIL_AFTER_CHARGE_RATE',
    'PROCESSOR_TIMEOUT_AFTER_CHARGE_RATE',
    'PROCESSOR_REFUSE_BEFORE_CHARGE_RATE',
    'PROCESSOR_HANG_MS',
    'PROCESSOR_SLOW_MS',
    'PROCESSOR_DECLINE_SOURCES',
  ]) {
    t.true(error?.message.includes(name), name);
  }
});

test('roll: 0 never, 1 always, otherwise compares against random()', (t) => {
  t.false(roll(0, () => 0));
  t.true(roll(1, () => 0.999_999));
  t.true(roll(0.3, () => 0.29));
  t.false(roll(0.3, () => 0.3));
});
