/**
 * Payment card rules: the Luhn checksum and the issuer prefix (IIN) and length of every major
 * brand. A digit run is only a card when both hold, which keeps order numbers, timestamps and
 * phone numbers out.
 * @module
 */

/** Shortest card number checked (Maestro issues 12 digits). */
export const CARD_MIN_DIGITS = 12;
/** Longest card number (ISO/IEC 7812). */
export const CARD_MAX_DIGITS = 19;

/** A digit's contribution to the Luhn sum when it is doubled: 2d, less 9 past 9. */
const DOUBLED = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

/**
 * True when the `n` digits of `d` from `at` pass the Luhn checksum. `zero` is the value that
 * stands for the digit 0: 0 for digit values, 48 to read ASCII digits (bytes) in place.
 *
 * @example
 * ```ts
 * luhnValid([4, 5, 3, 2, 0, 1, 5, 1, 1, 2, 8, 3, 0, 3, 6, 6], 16); // true
 * luhnValid(new TextEncoder().encode("x4532015112830366"), 16, 1, 48); // true
 * ```
 */
export function luhnValid(d: ArrayLike<number>, n: number, at = 0, zero = 0): boolean {
  let sum = 0;
  let k = at + n - 1;
  // From the last digit: every second one (the check digit's left neighbour first) is doubled.
  for (; k > at; k -= 2) sum += (d[k] - zero) + DOUBLED[d[k - 1] - zero];
  if (k === at) sum += d[k] - zero;
  return sum % 10 === 0;
}

/** Leading digits {@linkcode cardBrand} reads (the rest of the number only counts). */
export const BRAND_DIGITS = 4;

/**
 * The brand whose IIN range and length fit the first `n` digits of `d`, or undefined. Only the
 * first {@linkcode BRAND_DIGITS} digits and `n` decide it (see {@linkcode brandOfPrefix}).
 */
export function cardBrand(d: ArrayLike<number>, n: number): string | undefined {
  if (n < CARD_MIN_DIGITS || n > CARD_MAX_DIGITS) return undefined;
  return brandOfPrefix(d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3], n);
}

/**
 * The brand of an `n`-digit number whose first {@linkcode BRAND_DIGITS} digits are `p4` (0 to
 * 9999), or undefined. Ranges follow the published issuer tables; Maestro's wide 5x/6x range
 * covers Dankort, RuPay and similar debit schemes of the same lengths.
 *
 * @example
 * ```ts
 * brandOfPrefix(4532, 16); // "visa"
 * brandOfPrefix(1700, 13); // undefined (a millisecond timestamp)
 * ```
 */
export function brandOfPrefix(p4: number, n: number): string | undefined {
  if (n < CARD_MIN_DIGITS || n > CARD_MAX_DIGITS) return undefined;
  const p1 = (p4 / 1000) | 0;
  const p2 = (p4 / 100) | 0;
  const p3 = (p4 / 10) | 0;
  switch (p1) {
    case 1: // legacy 15-digit JCB
      return p4 === 1800 && n === 15 ? "jcb" : undefined;
    case 2:
      if (p4 === 2131 && n === 15) return "jcb";
      if (p4 >= 2221 && p4 <= 2720 && n === 16) return "mastercard";
      if (p4 >= 2200 && p4 <= 2204 && n >= 16) return "mir";
      return undefined;
    case 3:
      if ((p2 === 34 || p2 === 37) && n === 15) return "amex";
      if (p2 === 35 && n >= 16) return "jcb";
      if (
        (p3 <= 305 && p2 === 30 || p4 === 3095 || p2 === 36 || p2 === 38 || p2 === 39) && n >= 14
      ) {
        return "diners";
      }
      return undefined;
    case 4:
      return n === 13 || n === 16 || n === 19 ? "visa" : undefined;
    case 5:
      if (p2 >= 51 && p2 <= 55) return n === 16 ? "mastercard" : undefined;
      return p2 === 50 || p2 >= 56 ? "maestro" : undefined;
    case 6:
      if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649)) {
        return n >= 16 ? "discover" : "maestro";
      }
      if (p2 === 62 && n >= 16) return "unionpay";
      return "maestro";
    default:
      return undefined;
  }
}

/** An issued SSN: area 000, 666 and 900-999, group 00 and serial 0000 are never issued. */
export function ssnValid(d: ArrayLike<number>): boolean {
  const area = d[0] * 100 + d[1] * 10 + d[2];
  const group = d[3] * 10 + d[4];
  const serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

/** An ITIN (individual taxpayer number): area 9XX with a group of 70 to 99. */
export function itinValid(d: ArrayLike<number>): boolean {
  return d[0] === 9 && d[3] >= 7;
}
