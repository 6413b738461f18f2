import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type SandboxSession } from '../../src/tools/code-interpreter/backend.ts'
import { PyodideBackend } from '../../src/tools/code-interpreter/pyodide.ts'

/** The Pyodide backend for real: a child Node process per session, empty env, permission model. */
describe('pyodide sandbox', () => {
  let backend: PyodideBackend
  let session: SandboxSession

  beforeAll(async () => {
    backend = new PyodideBackend({ ...DEFAULT_LIMITS, timeoutMs: 1500, graceMs: 1000, memoryBytes: 512 * 1024 * 1024 })
    session = await backend.createSession()
  }, 60_000)
  afterAll(async () => {
    await session?.close()
    await backend?.dispose()
  })

  it('runs cells with state and tracebacks', async () => {
    expect((await session.exec('x = 6 * 7\nprint(x)')).output).toBe('42\n')
    expect((await session.exec('x + 1')).output).toBe('43\n')
    const failed = await session.exec('1 / 0')
    expect(failed.error).toBe(true)
    expect(failed.output).toMatch(/ZeroDivisionError/)
  })

  it('moves files in and out of /mnt/data', async () => {
    await session.putFile('in.csv', Buffer.from('a,b\n1,2\n'))
    const r = await session.exec('import csv\nrows = list(csv.reader(open("/mnt/data/in.csv")))\nopen("/mnt/data/out.txt", "w").write(str(rows))\nprint(len(rows))')
    expect(r.output).toBe('2\n')
    expect((await session.getFile('out.txt'))!.toString()).toBe("[['a', 'b'], ['1', '2']]")
    expect((await session.listFiles()).map((f) => f.name).sort()).toEqual(['in.csv', 'out.txt'])
    expect(await session.getFile('missing.txt')).toBeNull()
  })

  it('interrupts a busy loop and keeps the session', async () => {
    const r = await session.exec('n = 0\nwhile True:\n    n += 1')
    expect(r.stopped).toBe('timeout')
    expect((await session.exec('print(x, n > 0)')).output).toBe('42 True\n')
  })

  it('hard-kills what the interrupt cannot stop (time.sleep)', async () => {
    const own = await backend.createSession()
    try {
      const r = await own.exec('import time\ntime.sleep(60)')
      expect(r.stopped).toBe('killed')
      expect(own.alive).toBe(false)
    } finally {
      await own.close()
    }
  }, 60_000)

  it('sees no server environment, host files or network', async () => {
    process.env.THREADLINE_SANDBOX_CANARY = 'sk-canary-must-not-leak'
    const own = await backend.createSession()
    try {
      const r = await own.exec(
        'import os, js, json\nprint(dict(os.environ))\nprint(js.JSON.stringify(js.process.env))\n' +
          'for p in ["/proc/self/environ", "/etc/passwd", ' + JSON.stringify(new URL(import.meta.url).pathname) + ']:\n' +
          '    try:\n        print(p, "READ", js.process.getBuiltinModule("fs").readFileSync(p, "utf8")[:20])\n    except Exception as e:\n        print(p, "denied")\n' +
          'try:\n    js.process.getBuiltinModule("child_process").execSync("id")\n    print("SPAWNED")\nexcept Exception as e:\n    print("no spawn")\n' +
          'import socket\ntry:\n    socket.create_connection(("127.0.0.1", 80), timeout=1)\n    print("CONNECTED")\nexcept Exception as e:\n    print("no socket")\n' +
          'print(hasattr(js, "fetch"))',
      )
      expect(r.output).not.toMatch(/sk-canary|sk-upstream|THREADLINE|READ|SPAWNED|CONNECTED/)
      expect(r.output).toMatch(/no spawn\nno socket\nFalse\n$/)
    } finally {
      delete process.env.THREADLINE_SANDBOX_CANARY
      await own.close()
    }
  }, 60_000)

  it('cannot reach around the permission model through the JS bridge', async () => {
    const attempts = {
      eval: 'from pyodide.code import run_js\nrun_js("process.mainModule")',
      signalTheServer: 'import js\njs.process.kill(js.process.ppid, 0)',
      functionConstructor: 'import js\njs.Object.constructor.constructor("return process")()',
      mountHostDir:
        'import pyodide_js, js\nfrom pyodide.ffi import to_js\npyodide_js.FS.mkdir("/host")\n' +
        'pyodide_js.FS.mount(pyodide_js.FS.filesystems.NODEFS, to_js({"root": "/etc"}, dict_converter=js.Object.fromEntries), "/host")\nprint(open("/host/passwd").read())',
    }
    for (const [name, code] of Object.entries(attempts)) {
      const r = await session.exec(code)
      expect(r.error, name).toBe(true)
      expect(r.output, name).not.toMatch(/root:/)
    }
    expect((await session.exec('print(x)')).output).toBe('42\n')
  })

  it('refuses fork', async () => {
    const r = await session.exec('import os\nos.fork()')
    expect(r.error).toBe(true)
    expect((await session.exec('print("alive")')).output).toBe('alive\n')
  })
})
