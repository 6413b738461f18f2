/**
 * A sandbox backend runs model-written Python in a process that cannot reach the server: one
 * persistent interpreter per session, so variables, imports and files survive between cells.
 */

export type BackendName = 'bwrap' | 'pyodide'

/** Limits applied to every session of a backend (each where the backend can enforce it). */
export interface SandboxLimits {
  /** Wall-clock time of one cell before the soft interrupt; the hard kill follows `graceMs` later. */
  timeoutMs: number
  graceMs: number
  /** Address space (RLIMIT_AS) and, where cgroups are writable, the memory cgroup limit. */
  memoryBytes: number
  /** Largest file the code may write (RLIMIT_FSIZE). */
  fileBytes: number
  /** Processes and threads inside one session (cgroup pids, or RLIMIT_NPROC when not root). */
  maxProcesses: number
  /** CPU seconds over the life of one session (RLIMIT_CPU). */
  cpuSeconds: number
}

export const DEFAULT_LIMITS: SandboxLimits = {
  timeoutMs: 60_000,
  graceMs: 2_000,
  memoryBytes: 1024 * 1024 * 1024,
  fileBytes: 256 * 1024 * 1024,
  maxProcesses: 64,
  cpuSeconds: 3600,
}

export interface CellResult {
  /** stdout, stderr and tracebacks, interleaved as printed (clipped). */
  output: string
  /** PNG bytes of the matplotlib figures the cell left open. */
  images: Buffer[]
  /** The cell raised. */
  error: boolean
  /** What stopped the cell early, if anything. The session survives 'timeout' but not 'killed'/'died'. */
  stopped: null | 'timeout' | 'killed' | 'died'
}

export interface SandboxFile {
  name: string
  size: number
  mtimeMs: number
}

export interface SandboxSession {
  readonly backend: BackendName
  /** Whether the interpreter is still alive (a hard kill or a crash ends it). */
  readonly alive: boolean
  /** Run one cell; an abort stops it like the time limit does. */
  exec(code: string, signal?: AbortSignal): Promise<CellResult>
  /** A file at /mnt/data/<name> (a plain name, no directories). */
  putFile(name: string, bytes: Buffer): Promise<void>
  getFile(name: string): Promise<Buffer | null>
  /** The regular files directly under /mnt/data. */
  listFiles(): Promise<SandboxFile[]>
  /** Resident memory of the session's processes, bytes (for benchmarks). */
  rss(): Promise<number>
  close(): Promise<void>
}

export interface SandboxBackend {
  readonly name: BackendName
  createSession(): Promise<SandboxSession>
  /** Release what the backend holds (cgroup directories, temp dirs). */
  dispose(): Promise<void>
}

/** Only plain file names reach /mnt/data: no directories, no dot names, nothing odd. */
export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? ''
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, '').trim()
  if (!cleaned || cleaned === '.' || cleaned === '..') return 'file'
  return cleaned.slice(0, 200)
}

/** Start a new session; one that fails to start is closed (no half-made sandbox stays behind). */
export async function startedSession<S extends { start(): Promise<void>; close(): Promise<void> }>(session: S): Promise<S> {
  try {
    await session.start()
  } catch (err) {
    await session.close()
    throw err
  }
  return session
}
