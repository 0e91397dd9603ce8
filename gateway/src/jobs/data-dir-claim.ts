// One gateway per JOB_DATA_DIR. Both job engines empty the directory's spool at start (and the
// embedded engine its uploads and results), so a second gateway started on the same directory (two
// `npm start` on one checkout, two containers on one volume) would destroy the first one's jobs.
// The primary claims the directory before anything else: a file holding its pid, taken over only
// when the gateway it names is gone.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The claim's file name, in JOB_DATA_DIR. */
export const DATA_DIR_CLAIM = '.gateway.pid';

export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
}

/** Whether `pid` is another live gateway (its process title, set by main.ts, starts with mdso-ocr). */
function otherLiveGateway(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive, another user's; ESRCH: gone.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A pid reused by another program (a container restarted with the same volume) is not a claim.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('mdso-ocr');
  } catch {
    return true; // no /proc: the live process is taken at its word
  }
}

/**
 * Claims `dir` for this process; returns the release (which removes the claim if it is still ours).
 * Throws DataDirInUse naming the other gateway when it is alive.
 */
export function claimDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, DATA_DIR_CLAIM);
  const release = (): void => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(file, 'utf8').trim());
    } catch {
      continue; // removed meanwhile: try again
    }
    if (otherLiveGateway(holder)) {
      throw new DataDirInUse(
        `JOB_DATA_DIR ${dir} is in use by another gateway (pid ${holder}); give each gateway its own JOB_DATA_DIR, or stop that one first`,
      );
    }
    // Left by a gateway that is gone (killed, crashed): its jobs are gone with it.
    rmSync(file, { force: true });
  }
  throw new DataDirInUse(`JOB_DATA_DIR ${dir}: another gateway keeps claiming it; give each gateway its own JOB_DATA_DIR`);
}
