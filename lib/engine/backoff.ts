import type { RetryConfig } from '../config';

/**
 * The delay before retry number `failures` (1 after the first failed attempt): exponential,
 * capped, then jittered downwards by up to `jitter` of itself, so that many steps failing
 * together (a gateway outage) do not retry in lockstep. Pure: pass `random` to test it.
 */
export function backoffDelay(
  failures: number,
  config: Required<RetryConfig>,
  random: () => number = Math.random,
): number {
  const exp = config.baseMs * Math.pow(config.factor, Math.max(0, failures - 1));
  const capped = Math.min(config.capMs, exp);
  return Math.round(capped * (1 - config.jitter * random()));
}
