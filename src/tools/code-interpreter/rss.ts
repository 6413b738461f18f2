import { readdirSync, readFileSync } from 'node:fs'

/** Resident memory of a process and all its descendants, bytes (Linux /proc). */
export function processTreeRss(pid: number): number {
  let total = 0
  const seen = new Set<number>()
  const stack = [pid]
  while (stack.length) {
    const p = stack.pop()!
    if (seen.has(p)) continue
    seen.add(p)
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8')
      const kb = /VmRSS:\s+(\d+)/.exec(status)
      if (kb) total += Number(kb[1]) * 1024
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim()
        if (children) stack.push(...children.split(/\s+/).map(Number))
      }
    } catch {
      // the process ended while we looked
    }
  }
  return total
}
