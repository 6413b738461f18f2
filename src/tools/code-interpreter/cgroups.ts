import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Per-session cgroups where this process may create them (cgroup v1 controllers as in these
 * containers, or a delegated cgroup v2 subtree). Memory, process-count and CPU limits hold for
 * the whole session, children included; when nothing is writable, rlimits are all there is.
 */
export interface CgroupLimits {
  memoryBytes: number
  maxProcesses: number
  /** Fraction of one CPU a session may use. */
  cpus: number
}

interface Controller {
  /** Directory under which session groups are created. */
  base: string
  apply(dir: string, limits: CgroupLimits): void
}

const write = (dir: string, file: string, value: string) => writeFileSync(join(dir, file), value)

export class Cgroups {
  private constructor(private readonly controllers: Controller[]) {}

  /** Which controllers are writable here (an empty set is fine: limits fall back to rlimits). */
  static detect(tag: string): Cgroups {
    const controllers: Controller[] = []
    let own: string[] = []
    try {
      own = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')
    } catch {
      return new Cgroups([])
    }
    const pathFor = (name: string) => own.map((l) => l.split(':')).find((p) => p[1]?.split(',').includes(name))?.[2]
    const v1: Record<string, (dir: string, l: CgroupLimits) => void> = {
      pids: (dir, l) => write(dir, 'pids.max', String(l.maxProcesses)),
      memory: (dir, l) => {
        write(dir, 'memory.limit_in_bytes', String(l.memoryBytes))
        // Swap counts too where accounted, so the limit cannot be dodged by swapping.
        if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) {
          try {
            write(dir, 'memory.memsw.limit_in_bytes', String(l.memoryBytes))
          } catch {}
        }
      },
      cpu: (dir, l) => {
        write(dir, 'cpu.cfs_period_us', '100000')
        write(dir, 'cpu.cfs_quota_us', String(Math.round(100000 * l.cpus)))
      },
    }
    for (const [name, apply] of Object.entries(v1)) {
      const rel = pathFor(name)
      const mount = join('/sys/fs/cgroup', name)
      if (rel === undefined || !existsSync(mount)) continue
      const base = join(mount, rel, tag)
      if (tryCreate(base)) controllers.push({ base, apply })
    }
    if (controllers.length === 0) {
      // cgroup v2: usable only when our own cgroup is delegated to us (systemd Delegate=yes and similar).
      const rel = own.find((l) => l.startsWith('0::'))?.slice(3)
      if (rel !== undefined && existsSync('/sys/fs/cgroup/cgroup.controllers')) {
        const base = join('/sys/fs/cgroup', rel, tag)
        if (tryCreate(base)) {
          try {
            write(base, 'cgroup.subtree_control', '+pids +memory +cpu')
            controllers.push({
              base,
              apply: (dir, l) => {
                write(dir, 'pids.max', String(l.maxProcesses))
                write(dir, 'memory.max', String(l.memoryBytes))
                write(dir, 'memory.swap.max', '0')
                write(dir, 'cpu.max', `${Math.round(100000 * l.cpus)} 100000`)
              },
            })
          } catch {
            tryRemove(base)
          }
        }
      }
    }
    return new Cgroups(controllers)
  }

  get available(): string[] {
    return this.controllers.map((c) => c.base)
  }

  /** Create the session's groups; returns the directories whose `cgroup.procs` the session joins. */
  create(session: string, limits: CgroupLimits): string[] {
    const dirs: string[] = []
    for (const c of this.controllers) {
      const dir = join(c.base, session)
      try {
        mkdirSync(dir)
        c.apply(dir, limits)
        dirs.push(dir)
      } catch {
        tryRemove(dir)
      }
    }
    return dirs
  }

  /** Remove a session's groups (once its processes are gone; retried briefly). */
  async remove(dirs: string[]): Promise<void> {
    for (const dir of dirs) {
      for (let attempt = 0; attempt < 20 && existsSync(dir); attempt++) {
        if (tryRemove(dir)) break
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }

  dispose(): void {
    for (const c of this.controllers) tryRemove(c.base)
  }
}

function tryCreate(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true })
    return true
  } catch {
    return false
  }
}

function tryRemove(dir: string): boolean {
  try {
    rmdirSync(dir)
    return true
  } catch {
    return false
  }
}
