/** A small tmpfs mounted over a test folder, to fill up or turn read-only (needs root). @module */

/** Runs `mount`/`umount` with `args`; true when it succeeded. */
export function mountCmd(cmd: "mount" | "umount", args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** Whether this host lets a test mount a tmpfs (tests that need one are ignored elsewhere). */
export function canMountTmpfs(): boolean {
  const dir = Deno.makeTempDirSync({ prefix: "iatp-mount-probe-" });
  const ok = mountCmd("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
  if (ok) mountCmd("umount", [dir]);
  Deno.removeSync(dir);
  return ok;
}

/**
 * Mounts a tmpfs of `size` (`256k`, `2m`) over `dir`.
 * @throws {Error} when it cannot be mounted
 */
export function mountTmpfs(dir: string, size: string): { unmount(): void } {
  if (!mountCmd("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir])) {
    throw new Error(`cannot mount a tmpfs on ${dir}`);
  }
  return { unmount: () => void mountCmd("umount", [dir]) };
}

/** Fills the rest of the tmpfs at `dir` with a file; remove the returned path to free it. */
export async function fill(dir: string): Promise<string> {
  const path = `${dir}/filler`;
  await Deno.writeFile(path, new Uint8Array(64 * 1024 * 1024)).catch(() => {});
  return path;
}
