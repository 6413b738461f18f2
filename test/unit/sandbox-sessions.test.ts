import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type SandboxBackend } from '../../src/tools/code-interpreter/backend.ts'
import { BwrapBackend } from '../../src/tools/code-interpreter/bwrap.ts'
import { PyodideBackend } from '../../src/tools/code-interpreter/pyodide.ts'
import { SessionManager } from '../../src/tools/code-interpreter/sessions.ts'

/** Session manager over a real backend (bwrap where it works, else Pyodide). */
const limits = { ...DEFAULT_LIMITS, timeoutMs: 5_000 }
const backend = async (): Promise<SandboxBackend> => ((await BwrapBackend.probe()) === null ? BwrapBackend.create(limits) : new PyodideBackend(limits))

describe('SessionManager', () => {
  let manager: SessionManager | null = null
  afterEach(async () => {
    await manager?.closeAll()
    manager = null
  })

  it('keeps one session per key with its state, and runs work on a key one at a time', async () => {
    manager = new SessionManager(await backend(), { idleMs: 60_000, maxSessions: 4 })
    await manager.use('thread_a', (e) => e.session.exec('x = "a"'))
    await manager.use('thread_b', (e) => e.session.exec('x = "b"'))
    const [a, b] = await Promise.all([
      manager.use('thread_a', (e) => e.session.exec('print(x)')),
      manager.use('thread_b', (e) => e.session.exec('print(x)')),
    ])
    expect([a.output, b.output]).toEqual(['a\n', 'b\n'])
    const order: string[] = []
    await Promise.all(
      [1, 2, 3].map((n) =>
        manager!.use('thread_a', async (e) => {
          order.push(`start ${n}`)
          await e.session.exec('import time\ntime.sleep(0.05)')
          order.push(`end ${n}`)
        }),
      ),
    )
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3'])
  }, 60_000)

  it('evicts the least recently used session at the cap; its next session says state was lost', async () => {
    manager = new SessionManager(await backend(), { idleMs: 60_000, maxSessions: 2 })
    await manager.use('t1', (e) => e.session.exec('v = 1'))
    await manager.use('t2', (e) => e.session.exec('v = 2'))
    await manager.use('t1', (e) => e.session.exec('v'))
    await manager.use('t3', (e) => e.session.exec('v = 3'))
    expect([manager.has('t1'), manager.has('t2'), manager.has('t3')]).toEqual([true, false, true])
    expect(manager.size).toBe(2)
    const again = await manager.use('t2', async (e) => ({ restarted: e.restarted, r: await e.session.exec('print("v" in globals())') }))
    expect(again.restarted).toBe(true)
    expect(again.r.output).toBe('False\n')
  }, 60_000)

  it('closes idle sessions', async () => {
    manager = new SessionManager(await backend(), { idleMs: 60_000, maxSessions: 4 })
    await manager.use('t1', (e) => e.session.exec('1'))
    await manager.sweepIdle(Date.now() + 30_000)
    expect(manager.has('t1')).toBe(true)
    await manager.sweepIdle(Date.now() + 61_000)
    expect(manager.has('t1')).toBe(false)
  }, 60_000)

  it('replaces a session whose interpreter died', async () => {
    manager = new SessionManager(await backend(), { idleMs: 60_000, maxSessions: 4 })
    await manager.use('t1', (e) => e.session.exec('v = 1'))
    const died = await manager.use('t1', (e) => e.session.exec('import os\nos._exit(3)'))
    expect(died.stopped).toBe('died')
    const next = await manager.use('t1', async (e) => ({ restarted: e.restarted, r: await e.session.exec('print("v" in globals())') }))
    expect(next).toMatchObject({ restarted: true, r: { output: 'False\n' } })
  }, 60_000)
})
