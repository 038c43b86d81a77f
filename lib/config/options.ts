import { DlabInputError } from '../errors';

/**
 * Numeric command-line options and environment settings, checked with their name: a value that
 * is not a number in range is an input error (exit 2) saying which option, what it takes (and,
 * given `what`, what it is) and what was given.
 */
export function intOption(name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER, what?: string): number {
  const n = Number(value);
  // digits only, with an optional minus: not 1e3, 0x10, 5.0 or padding, which Number takes
  if (!/^-?[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw new DlabInputError(`${name}: expected ${range}${what ? ` (${what})` : ''}, found "${value}"`, name);
  }
  return n;
}

/** A real number in [min, max], or (min, max] with `openMin`. */
export function numberOption(name: string, value: string, range: { min: number; max?: number; openMin?: boolean }): number {
  const n = Number(value);
  const max = range.max ?? Infinity;
  const ok = value.trim() !== '' && Number.isFinite(n) && (range.openMin ? n > range.min : n >= range.min) && n <= max;
  if (!ok) {
    const lo = range.openMin ? `(${range.min}` : `[${range.min}`;
    throw new DlabInputError(`${name}: expected a number in ${lo}, ${max === Infinity ? '∞)' : `${max}]`}, found "${value}"`, name);
  }
  return n;
}

/** A TCP port. */
export const portOption = (name: string, value: string) => intOption(name, value, 1, 65535);
