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

/** True when the first `n` digits of `d` pass the Luhn checksum. */
export function luhnValid(d: ArrayLike<number>, n: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = n - 1; i >= 0; i--) {
    let v = d[i];
    if (double) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
    double = !double;
  }
  return sum % 10 === 0;
}

function prefix(d: ArrayLike<number>, len: number): number {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 10 + d[i];
  return v;
}

/** Leading digits {@linkcode cardBrand} reads (the rest of the number only counts). */
export const BRAND_DIGITS = 4;

/**
 * The brand whose IIN range and length fit the first `n` digits of `d`, or undefined. Only the
 * first {@linkcode BRAND_DIGITS} digits and `n` decide it.
 * Ranges follow the published issuer tables; Maestro's wide 5x/6x range covers Dankort, RuPay
 * and similar debit schemes of the same lengths.
 */
export function cardBrand(d: ArrayLike<number>, n: number): string | undefined {
  if (n < CARD_MIN_DIGITS || n > CARD_MAX_DIGITS) return undefined;
  const p1 = d[0];
  const p2 = p1 * 10 + d[1];
  const p4 = prefix(d, 4);
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
        (prefix(d, 3) <= 305 && p2 === 30 || p4 === 3095 || p2 === 36 || p2 === 38 || p2 === 39) &&
        n >= 14
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
      if (p4 === 6011 || p2 === 65 || (prefix(d, 3) >= 644 && prefix(d, 3) <= 649)) {
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
