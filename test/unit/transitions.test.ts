import { describe, expect, it } from 'vitest'
import { canTransition, assertTransition, isTerminal, RUN_TRANSITIONS, TERMINAL_RUN_STATUSES, RUN_STATUS_EVENT } from '../../src/engine/transitions.ts'

const ALL = Object.keys(RUN_TRANSITIONS) as (keyof typeof RUN_TRANSITIONS)[]

describe('run state machine', () => {
  it('follows OpenAI’s lifecycle', () => {
    expect(canTransition('queued', 'in_progress')).toBe(true)
    expect(canTransition('in_progress', 'requires_action')).toBe(true)
    expect(canTransition('requires_action', 'queued')).toBe(true)
    expect(canTransition('requires_action', 'expired')).toBe(true)
    expect(canTransition('in_progress', 'cancelling')).toBe(true)
    expect(canTransition('cancelling', 'cancelled')).toBe(true)
    expect(canTransition('in_progress', 'incomplete')).toBe(true)
  })

  it('terminal statuses go nowhere, and every illegal move throws', () => {
    for (const from of ALL) {
      for (const to of ALL) {
        const legal = RUN_TRANSITIONS[from].includes(to)
        if (legal) expect(() => assertTransition(from, to)).not.toThrow()
        else expect(() => assertTransition(from, to)).toThrow(/Illegal run transition/)
      }
    }
    for (const s of TERMINAL_RUN_STATUSES) {
      expect(RUN_TRANSITIONS[s]).toEqual([])
      expect(isTerminal(s)).toBe(true)
    }
    expect(canTransition('completed', 'in_progress')).toBe(false)
    expect(canTransition('queued', 'requires_action')).toBe(false)
  })

  it('maps every status to its stream event', () => {
    for (const s of ALL) expect(RUN_STATUS_EVENT[s]).toBe(`thread.run.${s}`)
  })
})
