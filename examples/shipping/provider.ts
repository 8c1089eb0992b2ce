// npm run example:shipping:provider — the fake shipping provider on PORT (default 4010), with
// faults from PROVIDER_FAIL_AFTER_CREATE_RATE, PROVIDER_HANG_AFTER_CREATE_RATE and
// PROVIDER_REFUSE_BEFORE_CREATE_RATE (0 to 1); orders whose id starts with "refuse-" get 422.
import { startShippingProvider } from './provider-server.ts';

const rate = (name: string): number => {
  const value = Number(process.env[name] ?? 0);
  if (!(value >= 0 && value <= 1)) {
    console.error(`${name} must be a number from 0 to 1`);
    process.exit(1);
  }
  return value;
};
const provider = await startShippingProvider({
  port: Number(process.env['PORT'] ?? 4010),
  faults: {
    failAfterCreateRate: rate('PROVIDER_FAIL_AFTER_CREATE_RATE'),
    hangAfterCreateRate: rate('PROVIDER_HANG_AFTER_CREATE_RATE'),
    refuseBeforeCreateRate: rate('PROVIDER_REFUSE_BEFORE_CREATE_RATE'),
  },
});
console.log(`shipping provider listening on ${provider.url}`);
process.once('SIGTERM', () => void provider.close().then(() => process.exit(0)));
process.once('SIGINT', () => void provider.close().then(() => process.exit(0)));
