/**
 * UTC timestamps written in JavaScript from epoch milliseconds. V8's own Date formatting
 * (`toISOString`, `toUTCString`) maps 1-2 MB more of the `deno` binary into a process the first
 * time either runs; every service logs a line and answers `/health` at start, so its log lines
 * and its answers' Date field are written here instead.
 * @module
 */

/** Milliseconds in a day. */
const DAY_MS = 86_400_000;
/** 10000-01-01T00:00:00Z: from there on (and before year 0) `toISOString` writes six digits. */
const LAST_MS = 253_402_300_800_000;
/** 0000-01-01T00:00:00Z. */
const FIRST_MS = -62_167_219_200_000;

const two = (n: number) => (n < 10 ? "0" : "") + n;
const three = (n: number) => (n < 10 ? "00" : n < 100 ? "0" : "") + n;
const four = (n: number) => (n < 10 ? "000" : n < 100 ? "00" : n < 1000 ? "0" : "") + n;

/**
 * `new Date(ms).toISOString()` ("2026-12-06T10:22:45.752Z") for any integer `ms` from year 0
 * to 9999, by the civil-from-days conversion of the proleptic Gregorian calendar (years of
 * 400 years of 146,097 days starting on March 1); other values go to `toISOString`.
 * @throws {RangeError} as `toISOString` does for a time that is not a valid Date
 */
export function isoTimestamp(ms: number): string {
  if (!Number.isInteger(ms) || ms < FIRST_MS || ms >= LAST_MS) return new Date(ms).toISOString();
  const days = Math.floor(ms / DAY_MS);
  const inDay = ms - days * DAY_MS;
  const z = days + 719_468; // days since 0000-03-01
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra -
    (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153); // March = 0
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const seconds = Math.floor(inDay / 1000);
  return `${four(year)}-${two(month)}-${two(day)}T${two(Math.floor(seconds / 3600))}:${
    two(Math.floor(seconds / 60) % 60)
  }:${two(seconds % 60)}.${three(inDay % 1000)}Z`;
}

const WEEKDAYS = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * `new Date(ms).toUTCString()` ("Sun, 06 Dec 2026 10:22:45 GMT", the IMF-fixdate of HTTP's
 * Date field) for any integer `ms` from 1970 to year 9999; other values go to `toUTCString`.
 */
export function imfFixdate(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= LAST_MS) return new Date(ms).toUTCString();
  const iso = isoTimestamp(ms);
  const weekday = WEEKDAYS[Math.floor(ms / DAY_MS) % 7];
  const month = MONTHS[Number(iso.slice(5, 7)) - 1];
  return `${weekday}, ${iso.slice(8, 10)} ${month} ${iso.slice(0, 4)} ${iso.slice(11, 19)} GMT`;
}
