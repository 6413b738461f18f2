import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type SandboxSession } from '../../src/tools/code-interpreter/backend.ts'
import { BwrapBackend } from '../../src/tools/code-interpreter/bwrap.ts'

/**
 * The bubblewrap backend for real: Debian's python3 in the sandbox. Skipped only where bwrap is
 * missing (CI installs it; see .ci/run).
 */
const unavailable = await BwrapBackend.probe()
// Skipped only off CI where bubblewrap is missing; CI installs it (.ci/run) and must run these.
const skip = unavailable !== null && process.env.CI !== 'true'
if (unavailable !== null && !skip) throw new Error(`the bubblewrap sandbox does not work here: ${unavailable}`)

describe.skipIf(skip)('bwrap sandbox', () => {
  let backend: BwrapBackend
  let session: SandboxSession

  beforeAll(async () => {
    backend = await BwrapBackend.create({ ...DEFAULT_LIMITS, timeoutMs: 1500, graceMs: 1000, memoryBytes: 768 * 1024 * 1024, fileBytes: 8 * 1024 * 1024 })
    session = await backend.createSession()
  })
  afterAll(async () => {
    await session?.close()
    await backend?.dispose()
  })
  // One test's hard kill must not fail the next ones.
  beforeEach(async () => {
    if (!session.alive) session = await backend.createSession()
  })

  it('runs cells with state, final-expression values and tracebacks', async () => {
    expect((await session.exec('x = 6 * 7\nprint(x)')).output).toBe('42\n')
    expect((await session.exec('x + 1')).output).toBe('43\n')
    const failed = await session.exec('def f():\n    return 1 / 0\nf()')
    expect(failed.error).toBe(true)
    expect(failed.output).toMatch(/ZeroDivisionError: division by zero/)
    expect(failed.output).toMatch(/<cell-\d+>", line 2, in f/)
    expect(failed.output).not.toMatch(/threadline|runner/i)
    const mixed = await session.exec('import sys, subprocess\nprint("out")\nprint("err", file=sys.stderr)\nsubprocess.run(["echo", "child"])')
    expect(mixed.output).toMatch(/^out\nerr\nchild\n/)
  })

  it('moves files in and out of /mnt/data', async () => {
    await session.putFile('in.csv', Buffer.from('a,b\n1,2\n3,4\n'))
    const r = await session.exec('import pandas as pd\ndf = pd.read_csv("/mnt/data/in.csv")\ndf["c"] = df.a + df.b\ndf.to_csv("/mnt/data/out.csv", index=False)\nprint(df.c.sum())')
    expect(r.output).toBe('10\n')
    expect((await session.getFile('out.csv'))!.toString()).toBe('a,b,c\n1,2,3\n3,4,7\n')
    expect((await session.listFiles()).map((f) => f.name).sort()).toEqual(['in.csv', 'out.csv'])
  })

  it('turns matplotlib figures into PNGs', async () => {
    const r = await session.exec('import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title("squares")\nplt.show()')
    expect(r.error).toBe(false)
    expect(r.images).toHaveLength(1)
    expect(r.images[0]!.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    expect((await session.exec('print(len(plt.get_fignums()))')).output).toBe('0\n')
  })

  it('interrupts an endless loop at the time limit and keeps the session', async () => {
    await session.exec('kept = "still here"')
    const r = await session.exec('import time\nwhile True:\n    time.sleep(0.01)')
    expect(r.stopped).toBe('timeout')
    expect(session.alive).toBe(true)
    expect((await session.exec('print(kept)')).output).toBe('still here\n')
  })

  it('hard-kills code that swallows the interrupt', async () => {
    const own = await backend.createSession()
    try {
      const r = await own.exec('import time\nwhile True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass')
      expect(r.stopped).toBe('killed')
      expect(own.alive).toBe(false)
    } finally {
      await own.close()
    }
  })

  it('stops a memory bomb with MemoryError', async () => {
    // Its own backend with a generous time limit: zeroing 768 MB on a loaded machine can take longer
    // than the shared session's 1.5 s, and the bomb must meet the memory cap, not the clock.
    const patient = await BwrapBackend.create({ ...DEFAULT_LIMITS, timeoutMs: 30_000, memoryBytes: 768 * 1024 * 1024 })
    const own = await patient.createSession()
    try {
      const r = await own.exec('hog = []\nwhile True:\n    hog.append(bytearray(50 * 1024 * 1024))')
      expect(r.stopped).toBe(null)
      expect(r.output).toMatch(/MemoryError/)
      expect((await own.exec('del hog\nprint("ok")')).output).toBe('ok\n')
    } finally {
      await own.close()
      await patient.dispose()
    }
  })

  it('contains a fork bomb and leaves no process behind', async () => {
    // Its own backend with a generous time limit: on a loaded machine the bomb may take a while to hit the cap.
    const patient = await BwrapBackend.create({ ...DEFAULT_LIMITS, timeoutMs: 30_000 })
    const own = await patient.createSession()
    try {
      const r = await own.exec('import os\nfor _ in range(10000):\n    os.fork()')
      expect(r.error).toBe(true)
      expect(r.output).toMatch(/BlockingIOError|Resource temporarily unavailable|MemoryError/)
      const after = await own.exec('import os\nprint(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))')
      expect(after.output).toBe('[1]\n')
    } finally {
      await own.close()
      await patient.dispose()
    }
  })

  it('caps file size', async () => {
    const r = await session.exec('with open("/mnt/data/big.bin", "wb") as f:\n    f.write(b"x" * (16 * 1024 * 1024))')
    expect(r.output).toMatch(/File too large|EFBIG|errno 27/i)
  })

  describe('escape attempts all fail', () => {
    it('has no network', async () => {
      const r = await session.exec(
        'import socket\ntry:\n    socket.create_connection(("1.1.1.1", 80), timeout=2)\n    print("connected")\nexcept OSError as e:\n    print("blocked", e)\n' +
          'try:\n    socket.create_connection(("127.0.0.1", 22), timeout=2)\n    print("connected")\nexcept OSError as e:\n    print("blocked", e)\n' +
          'try:\n    socket.getaddrinfo("example.com", 80)\n    print("resolved")\nexcept OSError as e:\n    print("blocked", e)',
      )
      expect(r.output).not.toMatch(/connected|resolved/)
      expect(r.output.match(/blocked/g)).toHaveLength(3)
    })

    it('cannot see the server environment or its processes', async () => {
      process.env.THREADLINE_SANDBOX_CANARY = 'sk-canary-must-not-leak'
      const own = await backend.createSession()
      try {
        const r = await own.exec(
          'import os, glob\nprint(dict(os.environ))\nfor p in glob.glob("/proc/*/environ"):\n    try:\n        print(p, open(p, "rb").read())\n    except OSError as e:\n        print(p, e)\nprint(os.listdir("/proc"))',
        )
        expect(r.output).not.toMatch(/sk-canary|sk-upstream|THREADLINE/)
        expect(r.output).toMatch(/'PATH': '\/usr\/bin:\/bin'/)
      } finally {
        delete process.env.THREADLINE_SANDBOX_CANARY
        await own.close()
      }
    })

    it("cannot read the host's files or another session's", async () => {
      const other = await backend.createSession()
      try {
        await other.putFile('secret.txt', Buffer.from('other thread secret'))
        const hostFile = new URL(import.meta.url).pathname
        const r = await session.exec(
          `import os\nfor p in [${JSON.stringify(hostFile)}, "/work", "/root", "/etc/passwd", "/etc/shadow", "/proc/1/root/work", "/tmp/threadline-sandbox"]:\n    try:\n        print(p, "READ", open(p).read()[:20] if os.path.isfile(p) else os.listdir(p))\n    except OSError as e:\n        print(p, "denied", type(e).__name__)\n` +
            'import glob\nprint([p for root in ["/mnt", "/tmp", "/dev", "/home", "/var", "/srv"] for p in glob.glob(root + "/**/secret.txt", recursive=True)])',
        )
        expect(r.output).not.toMatch(/READ/)
        expect(r.output).toMatch(/\[\]\n$/)
        expect(readFileSync(hostFile, 'utf8')).toContain('escape attempts') // the file exists on the host
      } finally {
        await other.close()
      }
    })

    it('cannot write outside /mnt/data, and /tmp is private', async () => {
      const r = await session.exec(
        'for p in ["/evil", "/usr/evil", "/etc/evil", "/proc/evil", "/mnt/evil"]:\n    try:\n        open(p, "w").write("x")\n        print(p, "WROTE")\n    except OSError as e:\n        print(p, "denied")\n' +
          'open("/tmp/threadline-escape-marker", "w").write("x")\nimport os\nprint(os.getuid(), os.geteuid())',
      )
      expect(r.output).not.toMatch(/WROTE/)
      expect(r.output).toMatch(/65534 65534/)
      expect(() => readFileSync('/tmp/threadline-escape-marker')).toThrow()
    })

    it('keeps no capabilities and cannot make new namespaces to gain some', async () => {
      const r = await session.exec('print([l for l in open("/proc/self/status") if l.startswith("Cap")])\nimport os\ntry:\n    os.unshare(os.CLONE_NEWUSER)\n    print("unshared")\nexcept Exception as e:\n    print("no unshare", e)')
      expect(r.output).toMatch(/CapEff:\\t0000000000000000/)
      expect(r.output).toMatch(/no unshare/)
    })

    it("the server never follows the code's symlinks out of /mnt/data", async () => {
      const r = await session.exec('import os\nos.symlink("/etc/hostname", "/mnt/data/link.txt")\nos.mkfifo("/mnt/data/fifo")\nprint("made")')
      expect(r.output).toBe('made\n')
      expect(await session.getFile('link.txt')).toBeNull()
      expect(await session.getFile('fifo')).toBeNull()
      expect((await session.listFiles()).map((f) => f.name)).not.toContain('link.txt')
      await session.putFile('link.txt', Buffer.from('replaced'))
      expect((await session.getFile('link.txt'))!.toString()).toBe('replaced')
    })
  })
})
