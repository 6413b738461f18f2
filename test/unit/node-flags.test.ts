import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SERVER_NODE_FLAGS } from '../../src/node-flags.ts'

// V8 takes these flags only on the command line: package.json's scripts must carry them.
describe('server node flags', () => {
  const scripts: Record<string, string> = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).scripts

  it('are given by every script that runs a server', () => {
    const serverScripts = ['start', 'threadline', 'bench:crud', 'bench:stream', 'bench:cluster', 'bench:search', 'bench:code']
    expect(SERVER_NODE_FLAGS.length).toBeGreaterThan(0)
    for (const name of serverScripts) {
      const command = scripts[name]
      expect(command, name).toMatch(/^node /)
      const beforeScript = command.slice(0, command.indexOf('--import'))
      for (const flag of SERVER_NODE_FLAGS) expect(beforeScript.split(' '), `${name} gives ${flag}`).toContain(flag)
    }
  })

  it('are flags this node accepts', () => {
    // A flag V8 does not know makes node exit with "bad option".
    const run = spawnSync(process.execPath, [...SERVER_NODE_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
  })
})
