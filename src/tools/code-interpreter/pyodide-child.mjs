// One Pyodide session in its own process (started by pyodide.ts with an empty environment and
// Node's permission model: it may read the pyodide package and nothing else of the disk).
// Main thread: JSON lines on stdin/stdout, and the interrupt (Python runs in a worker, so this
// thread stays free to set the interrupt buffer while a cell loops).
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

if (isMainThread) {
  const [indexURL, runnerSource] = [process.argv[2], Buffer.from(process.argv[3], 'base64').toString('utf8')]
  const interrupt = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(new URL(import.meta.url), { workerData: { indexURL, runnerSource, interrupt }, stdout: true, stderr: true })
  // The worker's console output is not the protocol: drop it.
  worker.stdout.resume()
  worker.stderr.resume()
  const send = (message) => process.stdout.write(JSON.stringify(message) + '\n')
  worker.on('message', send)
  worker.on('error', (err) => {
    process.stderr.write(String(err?.stack ?? err) + '\n')
    process.exit(70)
  })
  worker.on('exit', () => process.exit(71))
  createInterface({ input: process.stdin }).on('line', (line) => {
    let message
    try {
      message = JSON.parse(line)
    } catch {
      return
    }
    if (message.op === 'interrupt') Atomics.store(interrupt, 0, 2) // SIGINT → KeyboardInterrupt
    else worker.postMessage(message)
  })
  process.stdin.on('end', () => process.exit(0))
} else {
  const { indexURL, runnerSource, interrupt } = workerData
  // The permission model refuses process.binding; pyodide's NODEFS only wants the constants.
  const { constants } = await import('node:fs')
  const realBinding = process.binding
  process.binding = (name) => (name === 'constants' ? { fs: constants } : realBinding.call(process, name))
  const { loadPyodide } = await import(pathToFileURL(indexURL + 'pyodide.mjs').href)
  const pyodide = await loadPyodide({ indexURL, stdout: () => {}, stderr: () => {}, env: { HOME: '/home/pyodide' } })
  pyodide.setInterruptBuffer(interrupt)
  pyodide.FS.mkdirTree('/mnt/data')
  pyodide.runPython(runnerSource)
  pyodide.runPython('import os; os.chdir("/mnt/data")')
  const runCell = pyodide.globals.get('run_cell_json')
  // Python reaches JS through `js`: take away what it could use to reach out (not a boundary: see README).
  for (const name of ['fetch', 'WebSocket', 'XMLHttpRequest', 'EventSource', 'Request', 'require']) delete globalThis[name]
  // …and what the permission model leaves open: signals (the server is our parent), native code, identity.
  for (const name of ['getBuiltinModule', 'binding', '_linkedBinding', 'dlopen', 'kill', 'setuid', 'setgid', 'seteuid', 'setegid', 'setgroups', 'initgroups', 'chdir']) {
    process[name] = undefined
  }

  const FS = pyodide.FS
  const path = (name) => '/mnt/data/' + String(name).split('/').pop()
  const isFile = (p) => {
    try {
      return FS.isFile(FS.lstat(p).mode)
    } catch {
      return false
    }
  }
  const handlers = {
    exec: ({ code }) => {
      Atomics.store(interrupt, 0, 0)
      return JSON.parse(runCell(code))
    },
    put: ({ name, data }) => {
      const p = path(name)
      try {
        if (!isFile(p)) FS.unlink(p)
      } catch {}
      FS.writeFile(p, Buffer.from(data, 'base64'))
      return { ok: true }
    },
    get: ({ name }) => {
      const p = path(name)
      return { data: isFile(p) ? Buffer.from(FS.readFile(p)).toString('base64') : null }
    },
    list: () => ({
      files: FS.readdir('/mnt/data')
        .filter((n) => n !== '.' && n !== '..' && isFile('/mnt/data/' + n))
        .map((n) => {
          const st = FS.lstat('/mnt/data/' + n)
          return { name: n, size: st.size, mtimeMs: new Date(st.mtime).getTime() }
        }),
    }),
  }
  parentPort.on('message', (message) => {
    try {
      parentPort.postMessage(handlers[message.op](message))
    } catch (err) {
      parentPort.postMessage({ failed: String(err?.message ?? err) })
    }
  })
  parentPort.postMessage({ ready: true })
}
