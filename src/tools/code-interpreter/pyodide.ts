import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CellResult, SandboxBackend, SandboxFile, SandboxLimits, SandboxSession } from './backend.ts'
import { safeFileName, startedSession } from './backend.ts'
import { Cgroups } from './cgroups.ts'
import { JsonLineChannel } from './channel.ts'
import { processTreeRss } from './rss.ts'

const RUNNER = readFileSync(new URL('./runner.py', import.meta.url), 'utf8')
const CHILD = fileURLToPath(new URL('./pyodide-child.mjs', import.meta.url))
const START_TIMEOUT_MS = 60_000

/** The installed pyodide package's directory (with a trailing slash, as loadPyodide wants it). */
function pyodideDir(): string {
  return dirname(createRequire(import.meta.url).resolve('pyodide/package.json')) + '/'
}

/**
 * Pyodide (CPython on WebAssembly, standard library only offline) in a child Node process per
 * session: empty environment, Node's permission model (it may read the pyodide package and
 * nothing else; no child processes, no native addons), its own memory. Python inside can still
 * reach that process's JavaScript (and so the network): not a security boundary by itself, which
 * is why the server only uses it in open loopback mode or when configured explicitly.
 */
export class PyodideBackend implements SandboxBackend {
  readonly name = 'pyodide' as const
  private counter = 0
  private readonly cgroups: Cgroups

  /** An empty working directory: Node lets worker threads read below their cwd despite --permission. */
  private readonly emptyDir = mkdtempSync(join(tmpdir(), 'threadline-pyodide-'))

  constructor(readonly limits: SandboxLimits) {
    this.cgroups = Cgroups.detect(`threadline-py-${process.pid}-${Math.random().toString(36).slice(2, 8)}`)
  }

  /** Null when the pyodide package can be loaded in a child process; else why not. */
  static async probe(limits: SandboxLimits): Promise<string | null> {
    const backend = new PyodideBackend(limits)
    try {
      const session = await backend.createSession()
      try {
        const r = await session.exec('print(6 * 7)')
        return r.output === '42\n' ? null : `pyodide answered ${JSON.stringify(r.output)}`
      } finally {
        await session.close()
      }
    } catch (err) {
      return (err as Error).message
    } finally {
      await backend.dispose()
    }
  }

  async createSession(): Promise<SandboxSession> {
    const id = `s${++this.counter}`
    // Wasm memory is reserved far beyond use, so no RLIMIT_AS here: the memory cgroup is the limit.
    const groups = this.cgroups.create(id, { memoryBytes: this.limits.memoryBytes + 256 * 1024 * 1024, maxProcesses: this.limits.maxProcesses, cpus: 1 })
    const session = new PyodideSession(this.limits, groups, this.cgroups, this.emptyDir)
    return startedSession(session)
  }

  async dispose(): Promise<void> {
    this.cgroups.dispose()
    rmSync(this.emptyDir, { recursive: true, force: true })
  }
}

const JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 97; shift; done; shift; exec "$@"'

class PyodideSession implements SandboxSession {
  readonly backend = 'pyodide' as const
  private child: ChildProcess | null = null
  private channel: JsonLineChannel | null = null
  private stderr = ''
  private closed = false

  constructor(
    private readonly limits: SandboxLimits,
    private readonly groups: string[],
    private readonly cgroups: Cgroups,
    private readonly cwd: string,
  ) {}

  get alive(): boolean {
    return !this.closed && !!this.channel && !this.channel.exited
  }

  async start(): Promise<void> {
    const dir = pyodideDir()
    const node = [
      process.execPath,
      '--permission',
      `--allow-fs-read=${join(dir, '*')}`,
      `--allow-fs-read=${CHILD}`,
      '--allow-worker',
      '--disable-proto=delete',
      '--disallow-code-generation-from-strings',
      CHILD,
      dir,
      Buffer.from(RUNNER).toString('base64'),
    ]
    const child = spawn('/bin/sh', ['-c', JOIN_CGROUPS, 'sh', ...this.groups, '--', ...node], { env: {}, cwd: this.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child = child
    child.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4000) this.stderr += chunk.toString('utf8')
    })
    child.on('error', () => {})
    this.channel = new JsonLineChannel(child, child.stdout!)
    const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS)
    const ready = await this.channel.next()
    clearTimeout(timer)
    if (!ready || !(ready as { ready?: boolean }).ready) {
      throw new Error(`pyodide did not start (${this.channel.exitInfo || 'no ready signal'}): ${this.stderr.trim().slice(0, 500)}`)
    }
  }

  exec(code: string, signal?: AbortSignal): Promise<CellResult> {
    return this.channel!.execCell(
      code,
      this.limits,
      () => this.channel!.send({ op: 'interrupt' }),
      () => this.child?.kill('SIGKILL'),
      signal,
    )
  }

  private async call<T>(message: Record<string, unknown>): Promise<T> {
    const reply = (await this.channel!.request(message)) as (T & { failed?: string }) | null
    if (reply === null) throw new Error('the pyodide session has ended')
    if (reply.failed) throw new Error(reply.failed)
    return reply
  }

  async putFile(name: string, bytes: Buffer): Promise<void> {
    await this.call({ op: 'put', name: safeFileName(name), data: bytes.toString('base64') })
  }

  async getFile(name: string): Promise<Buffer | null> {
    const { data } = await this.call<{ data: string | null }>({ op: 'get', name: safeFileName(name) })
    return data === null ? null : Buffer.from(data, 'base64')
  }

  async listFiles(): Promise<SandboxFile[]> {
    return (await this.call<{ files: SandboxFile[] }>({ op: 'list' })).files
  }

  async rss(): Promise<number> {
    return this.child?.pid ? processTreeRss(this.child.pid) : 0
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const child = this.child
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
    await this.cgroups.remove(this.groups)
  }
}
