import type { Logger } from '../../log.ts'
import type { SandboxBackend, SandboxSession } from './backend.ts'

export interface SessionOptions {
  /** A session unused this long is closed (OpenAI's sessions live about an hour). */
  idleMs: number
  /** Live sessions at most; the least recently used idle one makes room for a new one. */
  maxSessions: number
}

/** What the tool keeps beside a live session: which files it placed, what it wrote out. */
export interface SessionEntry {
  readonly key: string
  session: SandboxSession
  /** Input files already copied into /mnt/data: file id → name there. */
  readonly placed: Map<string, string>
  /** True when an earlier session of this key ended (idle, evicted, killed): its state is gone. */
  restarted: boolean
  lastUsed: number
  busy: number
  chain: Promise<unknown>
}

/**
 * One sandbox session per key (a thread id): created on first use, reused while alive, closed
 * when idle for `idleMs` or evicted (LRU) when `maxSessions` are live. Work on one key runs one
 * call at a time; different keys run in parallel.
 */
export class SessionManager {
  /** Insertion order is recency order: the first entry is the least recently used. */
  private readonly entries = new Map<string, SessionEntry>()
  private readonly starting = new Map<string, Promise<SessionEntry>>()
  /** Keys whose session ended, so the next one can say that state was lost (bounded). */
  private readonly ended = new Set<string>()
  private readonly sweeper: NodeJS.Timeout
  private closed = false

  constructor(
    readonly backend: SandboxBackend,
    private readonly options: SessionOptions,
    private readonly log?: Logger,
  ) {
    this.sweeper = setInterval(() => void this.sweepIdle(), Math.max(1_000, Math.min(60_000, options.idleMs / 4)))
    this.sweeper.unref()
  }

  get size(): number {
    return this.entries.size
  }

  has(key: string): boolean {
    return this.entries.has(key)
  }

  /** Run `work` with the key's session (started on demand), after the key's earlier work. */
  async use<T>(key: string, work: (entry: SessionEntry) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('the code sandbox is shutting down')
    const entry = await this.acquire(key)
    entry.busy++
    const run = entry.chain.then(async () => {
      if (!entry.session.alive) await this.replaceSession(entry)
      return work(entry)
    })
    entry.chain = run.catch(() => undefined)
    try {
      return await run
    } finally {
      entry.busy--
      entry.lastUsed = Date.now()
      // A session killed by a limit is replaced on next use; close its leftovers now.
      if (!entry.session.alive) void entry.session.close()
    }
  }

  private async acquire(key: string): Promise<SessionEntry> {
    const existing = this.entries.get(key)
    if (existing) {
      this.entries.delete(key)
      this.entries.set(key, existing) // most recently used
      return existing
    }
    let pending = this.starting.get(key)
    if (!pending) {
      pending = this.start(key).finally(() => this.starting.delete(key))
      this.starting.set(key, pending)
    }
    return pending
  }

  private async start(key: string): Promise<SessionEntry> {
    await this.makeRoom(key)
    const session = await this.backend.createSession()
    const entry: SessionEntry = { key, session, placed: new Map(), restarted: this.ended.delete(key), lastUsed: Date.now(), busy: 0, chain: Promise.resolve() }
    this.entries.set(key, entry)
    return entry
  }

  private async replaceSession(entry: SessionEntry) {
    await entry.session.close().catch(() => undefined)
    entry.session = await this.backend.createSession()
    entry.placed.clear()
    entry.restarted = true
  }

  private async makeRoom(starting: string) {
    const othersStarting = () => [...this.starting.keys()].filter((k) => k !== starting).length
    while (this.entries.size + othersStarting() >= this.options.maxSessions) {
      const victim = [...this.entries.values()].find((e) => e.busy === 0)
      if (!victim) {
        this.log?.warn({ live: this.entries.size, max: this.options.maxSessions }, 'code_interpreter: all sessions busy, going over the session cap')
        return
      }
      this.log?.info({ thread: victim.key }, 'code_interpreter: evicting the least recently used session')
      await this.close(victim.key)
    }
  }

  /** Close a key's session (thread deleted, idle, evicted). */
  async close(key: string): Promise<void> {
    const entry = this.entries.get(key)
    if (!entry) return
    this.entries.delete(key)
    this.remember(key)
    await entry.chain // let running work finish (it is time-limited)
    await entry.session.close().catch((err) => this.log?.warn({ err }, 'code_interpreter: closing a session failed'))
  }

  async sweepIdle(now = Date.now()): Promise<void> {
    for (const entry of [...this.entries.values()]) {
      if (entry.busy === 0 && now - entry.lastUsed >= this.options.idleMs) await this.close(entry.key)
    }
  }

  private remember(key: string) {
    this.ended.add(key)
    if (this.ended.size > 10_000) this.ended.delete(this.ended.values().next().value!)
  }

  async closeAll(): Promise<void> {
    this.closed = true
    clearInterval(this.sweeper)
    await Promise.allSettled([...this.starting.values()])
    await Promise.all([...this.entries.keys()].map((key) => this.close(key)))
    await this.backend.dispose()
  }
}
