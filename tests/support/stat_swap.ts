/**
 * Preloaded into a service (`deno run --preload tests/support/stat_swap.ts main.ts ...`): a file
 * swapped for a pipe between a look at it and its open. While the path `IATP_TEST_STAT_SWAP`
 * names (`PATH=SHOWN`) is a pipe (a FIFO), a look at it (`Deno.statSync`, `Deno.stat`) sees
 * SHOWN, the regular file it held when looked at; an open gets the pipe.
 * @module
 */
const [watched, shown] = (Deno.env.get("IATP_TEST_STAT_SWAP") ?? "").split("=");
if (watched && shown) {
  const statSync = Deno.statSync;
  const stat = Deno.stat;
  const swapped = (path: string | URL, info: Deno.FileInfo) =>
    String(path) === watched && info.isFifo;
  Object.assign(Deno, {
    statSync: (path: string | URL) => {
      const info = statSync(path);
      return swapped(path, info) ? statSync(shown) : info;
    },
    stat: async (path: string | URL) => {
      const info = await stat(path);
      return swapped(path, info) ? await stat(shown) : info;
    },
  });
}
