// Key files written so that a process killed (or a machine losing power) while writing one never
// leaves it empty or half written: the bytes go to a new file beside it, are flushed to the disk,
// and only then take the file's name (rename and link are atomic), the folder flushed after. A
// JWKS rewritten in place was empty once `warden keygen --jwks` died between truncating and
// writing it: every key in it, the signing one too, was gone.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Opens `path` with `flags` (mode 0600 when made), writes `content` and flushes it to the disk. */
function writeFlushed(path: string, flags: string, content: string): void {
  const fd = openSync(path, flags, 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `content` (mode 0600) to a new file beside `file`, flushed; returns its path. */
function written(file: string, content: string): string {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFlushed(temp, 'wx', content);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') rmSync(temp, { force: true }); // a half-written one of ours, not another's
    throw e;
  }
  return temp;
}

/** Makes the new name itself durable (best effort: some file systems refuse to open a folder). */
function flushFolder(file: string): void {
  try {
    const fd = openSync(dirname(file), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* the rename stands; only its durability across a power loss is not forced */
  }
}

/**
 * Replaces `file` (or creates it) with `content`, mode 0600: readers see the old bytes or the new,
 * never a part. Through a symlink, the file it points to is replaced and the link stays. A file
 * bind-mounted on its own (`docker run -v ./jwks.json:/etc/warden/jwks.json`) cannot be renamed
 * over (EBUSY): it is rewritten in place, flushed, as before atomic writes, there being no other way.
 */
export function replaceKeyFile(file: string, content: string): void {
  let target = file;
  try {
    target = realpathSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const temp = written(target, content);
  try {
    renameSync(temp, target);
  } catch (e) {
    rmSync(temp, { force: true });
    if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
    writeFlushed(target, 'w', content);
    return;
  }
  flushFolder(target);
}

/** Creates `file` with `content`, mode 0600, only if it does not exist (false then): whole, or not at all. */
export function createKeyFileOnce(file: string, content: string): boolean {
  const temp = written(file, content);
  try {
    linkSync(temp, file); // fails with EEXIST if another process created it meanwhile
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(temp, { force: true });
  }
  flushFolder(file);
  return true;
}
