import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CellResult, SandboxBackend, SandboxFile, SandboxLimits, SandboxSession } from './backend.ts'
import { DEFAULT_LIMITS, startedSession } from './backend.ts'
import { Cgroups } from './cgroups.ts'
import { JsonLineChannel } from './channel.ts'
import { listDataFiles, readDataFile, writeDataFile } from './host-files.ts'
import { processTreeRss } from './rss.ts'

const PYTHON = '/usr/bin/python3'
const RUNNER = fileURLToPath(new URL('./runner.py', import.meta.url))
const START_TIMEOUT_MS = 30_000
/** Largest file read back out of /mnt/data. */
const MAX_OUTPUT_FILE_BYTES = 512 * 1024 * 1024

/**
 * Debian's python3 under bubblewrap: an unprivileged uid in its own user, pid, net, ipc and uts
 * namespaces; a read-only /usr, an empty read-only root, a private /tmp, and the session's
 * directory at /mnt/data — nothing else of the host. No network interface but a down loopback.
 * prlimit caps address space, file size and CPU time; cgroups (where writable) memory, processes, CPU.
 */
export class BwrapBackend implements SandboxBackend {
  readonly name = 'bwrap' as const
  private counter = 0
  private readonly cgroups: Cgroups

  private constructor(
    private readonly root: string,
    readonly limits: SandboxLimits,
  ) {
    this.cgroups = Cgroups.detect(`threadline-${process.pid}-${Math.random().toString(36).slice(2, 8)}`)
  }

  static async create(limits: SandboxLimits): Promise<BwrapBackend> {
    const root = await mkdtemp(join(tmpdir(), 'threadline-sandbox-'))
    return new BwrapBackend(root, limits)
  }

  /** Null when a sandboxed python with numpy, pandas and matplotlib runs here; else why not. */
  static async probe(): Promise<string | null> {
    if (!existsSync('/usr/bin/bwrap')) return 'bubblewrap is not installed (/usr/bin/bwrap)'
    if (!existsSync(PYTHON)) return `${PYTHON} is not installed`
    let backend: BwrapBackend | null = null
    try {
      backend = await BwrapBackend.create({ ...limitsForProbe })
      const session = await backend.createSession()
      try {
        const result = await session.exec('import numpy, pandas, matplotlib\nprint("ok")')
        if (result.output.trim() !== 'ok') return `the sandboxed python could not import numpy, pandas, matplotlib: ${result.output.trim().slice(-300)}`
      } finally {
        await session.close()
      }
      return null
    } catch (err) {
      return (err as Error).message
    } finally {
      await backend?.dispose()
    }
  }

  get cgroupControllers(): string[] {
    return this.cgroups.available
  }

  async createSession(): Promise<SandboxSession> {
    const id = `s${++this.counter}`
    const dir = join(this.root, id)
    await mkdir(dir, { mode: 0o700 })
    const groups = this.cgroups.create(id, { memoryBytes: this.limits.memoryBytes + 64 * 1024 * 1024, maxProcesses: this.limits.maxProcesses, cpus: 1 })
    const session = new BwrapSession(dir, this.limits, groups, this.cgroups)
    return startedSession(session)
  }

  async dispose(): Promise<void> {
    this.cgroups.dispose()
    await rm(this.root, { recursive: true, force: true })
  }
}

const limitsForProbe: SandboxLimits = {
  ...DEFAULT_LIMITS,
  timeoutMs: 30_000,
  graceMs: 1_000,
  fileBytes: 16 * 1024 * 1024,
  cpuSeconds: 60,
}

function bwrapArgs(dir: string, limits: SandboxLimits): string[] {
  return [
    '--unshare-all',
    '--unshare-user', // as root without a uid map the code would keep every capability
    '--disable-userns', // and no nested user namespace (kernel attack surface) from inside
    '--uid', '65534',
    '--gid', '65534',
    '--hostname', 'sandbox',
    '--die-with-parent',
    '--new-session',
    '--as-pid-1',
    '--cap-drop', 'ALL',
    '--ro-bind', '/usr', '/usr',
    '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64',
    '--symlink', 'usr/bin', '/bin',
    '--symlink', 'usr/sbin', '/sbin',
    // numpy finds libblas through /etc/alternatives; matplotlib refuses to import without its rc.
    '--ro-bind-try', '/etc/alternatives', '/etc/alternatives',
    '--ro-bind-try', '/etc/fonts', '/etc/fonts',
    '--ro-bind-try', '/etc/matplotlibrc', '/etc/matplotlibrc',
    '--ro-bind-try', '/etc/localtime', '/etc/localtime',
    '--proc', '/proc',
    '--dev', '/dev',
    '--size', String(Math.min(limits.fileBytes * 2, 512 * 1024 * 1024)),
    '--tmpfs', '/tmp',
    '--bind', dir, '/mnt/data',
    '--ro-bind', RUNNER, '/opt/threadline/runner.py',
    '--remount-ro', '/',
    '--chdir', '/mnt/data',
    '--clearenv',
    '--setenv', 'HOME', '/tmp',
    '--setenv', 'PATH', '/usr/bin:/bin',
    '--setenv', 'LANG', 'C.UTF-8',
    '--setenv', 'MPLCONFIGDIR', '/tmp',
    '--setenv', 'MPLBACKEND', 'Agg',
    '--setenv', 'OPENBLAS_NUM_THREADS', '1',
    '--setenv', 'OMP_NUM_THREADS', '1',
    '--info-fd', '3',
    PYTHON, '-I', '-u', '/opt/threadline/runner.py', 'fd',
  ]
}

/** Joins the session's cgroups before exec'ing the sandbox, so every process of it is inside. */
const JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 97; shift; done; shift; exec "$@"'

class BwrapSession implements SandboxSession {
  readonly backend = 'bwrap' as const
  private child: ChildProcess | null = null
  private channel: JsonLineChannel | null = null
  /** The python process (pid 1 inside), as seen from here: the target of the soft interrupt. */
  private pythonPid = 0
  private stderr = ''
  private closed = false

  constructor(
    private readonly dir: string,
    private readonly limits: SandboxLimits,
    private readonly groups: string[],
    private readonly cgroups: Cgroups,
  ) {}

  get alive(): boolean {
    return !this.closed && !!this.channel && !this.channel.exited
  }

  async start(): Promise<void> {
    const rlimits = [
      `--as=${this.limits.memoryBytes}`,
      `--fsize=${this.limits.fileBytes}`,
      `--cpu=${this.limits.cpuSeconds}`,
      `--core=0`,
    ]
    // RLIMIT_NPROC counts every process of the real uid, and root ignores it: only a fallback.
    if (!this.groups.some((g) => g.includes('/pids/') || existsSync(join(g, 'pids.max'))) && process.getuid?.() !== 0) {
      rlimits.push(`--nproc=${this.limits.maxProcesses}`)
    }
    const argv = ['-c', JOIN_CGROUPS, 'sh', ...this.groups, '--', '/usr/bin/prlimit', ...rlimits, '--', '/usr/bin/bwrap', ...bwrapArgs(this.dir, this.limits)]
    // Nothing of the server's environment (API keys) is handed down, not even to bwrap itself.
    const child = spawn('/bin/sh', argv, { env: { PATH: '/usr/bin:/bin' }, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] })
    this.child = child
    child.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4000) this.stderr += chunk.toString('utf8')
    })
    let info = ''
    ;(child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      info += chunk.toString('utf8')
      const match = /"child-pid"\s*:\s*(\d+)/.exec(info)
      if (match) this.pythonPid = Number(match[1])
    })
    child.on('error', () => {})
    this.channel = new JsonLineChannel(child, child.stdout!)
    const timer = setTimeout(() => this.kill(), START_TIMEOUT_MS)
    const ready = await this.channel.next()
    clearTimeout(timer)
    if (!ready || !(ready as { ready?: boolean }).ready) {
      throw new Error(`the sandbox did not start (${this.channel.exitInfo || 'no ready signal'}): ${this.stderr.trim().slice(0, 500)}`)
    }
  }

  exec(code: string, signal?: AbortSignal): Promise<CellResult> {
    return this.channel!.execCell(
      code,
      this.limits,
      () => this.pythonPid && sendSignal(this.pythonPid, 'SIGINT'),
      () => this.kill(),
      signal,
    )
  }

  putFile(name: string, bytes: Buffer): Promise<void> {
    return writeDataFile(this.dir, name, bytes)
  }

  getFile(name: string): Promise<Buffer | null> {
    return readDataFile(this.dir, name, MAX_OUTPUT_FILE_BYTES)
  }

  listFiles(): Promise<SandboxFile[]> {
    return listDataFiles(this.dir)
  }

  async rss(): Promise<number> {
    return this.child?.pid ? processTreeRss(this.child.pid) : 0
  }

  private kill() {
    if (this.pythonPid) sendSignal(this.pythonPid, 'SIGKILL')
    this.child?.kill('SIGKILL')
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const child = this.child
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      this.kill()
      await exited
    }
    await this.cgroups.remove(this.groups)
    await rm(this.dir, { recursive: true, force: true })
  }
}

function sendSignal(pid: number, name: NodeJS.Signals) {
  try {
    process.kill(pid, name)
  } catch {}
}
