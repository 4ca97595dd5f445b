/**
 * Counting the calls of V8's Date formatting (`toISOString`, `toUTCString`): the logger and the
 * HTTP edge write their times in JavaScript (core/log/time.ts), since the first call of either
 * maps 1-2 MB more of the runtime into a process.
 * @module
 */

/** Runs `f` with Date's two formatting methods counting their calls, and gives the count back. */
export async function countingDateText(f: () => Promise<void> | void): Promise<number> {
  const proto = Date.prototype;
  const iso = proto.toISOString;
  const utc = proto.toUTCString;
  let calls = 0;
  proto.toISOString = function (this: Date) {
    calls++;
    return iso.call(this);
  };
  proto.toUTCString = function (this: Date) {
    calls++;
    return utc.call(this);
  };
  try {
    await f();
  } finally {
    proto.toISOString = iso;
    proto.toUTCString = utc;
  }
  return calls;
}
