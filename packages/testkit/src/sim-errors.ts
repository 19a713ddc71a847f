import { StrataError } from '@strata/seams'

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EIO: 'i/o error',
  ENOSPC: 'no space left on device',
  EBADF: 'bad file descriptor',
  EINVAL: 'invalid argument',
}

/** An error shaped like Node's system errors: `code`, `syscall`, `path`, and Node's message form. */
export interface SimFsError extends Error {
  readonly code: string
  readonly syscall: string
  readonly path: string
}

export function fsError(code: string, syscall: string, path: string, detail?: string): SimFsError {
  const text = `${code}: ${DESCRIPTIONS[code] ?? 'error'}, ${syscall} '${path}'${detail === undefined ? '' : ` (${detail})`}`
  return Object.assign(new Error(text), { code, syscall, path })
}

/**
 * Thrown by every SimFileSystem operation after a `crashAfter` trigger fired and before
 * `crash()` is called: the process is "dead" and nothing it does may reach the disk.
 */
export class SimCrashError extends StrataError {
  constructor(operation: string, path: string) {
    super('ERR_SIM_CRASH', `simulated crash: ${operation} ${path} after the crash point (call crash() to restart)`, { operation, path })
  }
}
