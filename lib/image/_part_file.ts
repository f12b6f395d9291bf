// The partial download of a cache entry: one `<entry>.part` file per digest, held with an
// exclusive flock while a download writes it, so concurrent fetches of one image (in this
// process or others) wait for each other, and a download killed midway is resumed by the next.

import { sleep } from "../_sleep.ts";

/** The part file, opened and locked; its bytes are a prefix of the entry's. */
export interface PartFile {
  file: Deno.FsFile;
  path: string;
}

const POLL_MS = 100;

/**
 * Opens (creating) and locks `path`, waiting while another download holds it. Rejects with the
 * signal's reason when it aborts first.
 */
export async function lockPartFile(path: string, signal: AbortSignal): Promise<PartFile> {
  while (true) {
    signal.throwIfAborted();
    const file = await Deno.open(path, { read: true, write: true, create: true });
    try {
      if (await file.tryLock(true)) {
        // The holder before us may have renamed or removed the file we opened: lock the file
        // that is at `path` now.
        const [held, current] = await Promise.all([file.stat(), statOrNull(path)]);
        if (current !== null && held.dev === current.dev && held.ino === current.ino) {
          return { file, path };
        }
      }
    } catch (error) {
      file.close();
      throw error;
    }
    file.close();
    await sleep(POLL_MS, signal);
  }
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Writes all of `bytes` at the file's position. */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}
