/** Threadline as real child processes (`threadline serve` / `threadline worker`) for cluster tests. */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { serverProcessArgs } from '../../src/node-flags.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

export interface Proc {
  role: 'serve' | 'worker' | 'start'
  child: ChildProcess
  url: string
  /** Parsed JSON log lines written so far. */
  logs: any[]
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export async function startProcess(role: 'serve' | 'worker' | 'start', env: Record<string, string>): Promise<Proc> {
  const port = role === 'worker' ? 0 : await freePort()
  const child = spawn(process.execPath, serverProcessArgs(role), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', THREADLINE_PORT: String(port), THREADLINE_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: any[] = []
  let buffer = ''
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      buffer += chunk
      let nl
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        try {
          const entry = JSON.parse(line)
          logs.push(entry)
          if (entry.msg === 'threadline listening' || entry.msg === 'threadline worker ready') resolve()
        } catch {
          /* not a log line */
        }
      }
    })
    child.on('exit', (code) => reject(new Error(`${role} exited early (${code}): ${stderr.slice(-2000)}`)))
  })
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${role} did not start: ${stderr.slice(-2000)}`)), 60_000).unref())
  // API processes answer /health when ready (whatever their log level); workers say so in their log.
  const healthy = async () => {
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  try {
    await Promise.race([role === 'worker' ? ready : Promise.race([ready, healthy()]), timeout])
  } catch (err) {
    child.kill('SIGKILL') // never leave a half-started process behind
    throw err
  }
  ready.catch(() => {})
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    role,
    child,
    url: role === 'worker' ? '' : `http://127.0.0.1:${port}/v1`,
    logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      return exited
    },
  }
}
