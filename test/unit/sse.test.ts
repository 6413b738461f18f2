import { describe, expect, it } from 'vitest'
import { EventBus } from '../../src/engine/bus.ts'
import { DONE } from '../../src/protocol/events.ts'
import { sseFrame } from '../../src/protocol/sse.ts'

describe('SSE encoding', () => {
  it('writes exact frames with the run sequence as id', () => {
    const bus = new EventBus()
    const delta = bus.publish('run_1', {
      event: 'thread.message.delta',
      data: { id: 'msg_1', object: 'thread.message.delta', delta: { content: [{ index: 0, type: 'text', text: { value: 'Hi' } }] } },
    })
    expect(sseFrame(delta)).toBe(
      'id: 1\nevent: thread.message.delta\ndata: {"id":"msg_1","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"Hi"}}]}}\n\n',
    )
    expect(sseFrame(bus.publish('run_1', DONE))).toBe('id: 2\nevent: done\ndata: [DONE]\n\n')
  })
})

describe('EventBus', () => {
  it('replays after a sequence number, then delivers live events without gaps or duplicates', () => {
    const bus = new EventBus()
    for (let i = 0; i < 3; i++) bus.publish('r', DONE)
    const seen: number[] = []
    const off = bus.subscribe('r', 1, (e) => seen.push(e.seq))
    bus.publish('r', DONE)
    off()
    bus.publish('r', DONE)
    expect(seen).toEqual([2, 3, 4])
    expect(bus.head('r')).toBe(5)
  })

  it('forgets a retired run after the retention window', () => {
    const bus = new EventBus(1000)
    bus.publish('r', DONE)
    bus.retire('r', 0)
    bus.sweep(500)
    expect(bus.head('r')).toBe(1)
    bus.sweep(1500)
    expect(bus.head('r')).toBe(0)
  })
})
