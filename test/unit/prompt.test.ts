import { describe, expect, it } from 'vitest'
import { buildPrompt } from '../../src/engine/prompt.ts'
import type { MessageRow, RunStepRow } from '../../src/store/tables.ts'

let n = 0
function msg(role: 'user' | 'assistant', text: string): MessageRow {
  return {
    id: `msg_${++n}`,
    project_id: 'p',
    thread_id: 't',
    seq: String(n),
    created_at: 0,
    role,
    status: 'completed',
    content: [{ type: 'text', text: { value: text, annotations: [] } }],
    attachments: [],
    assistant_id: null,
    run_id: null,
    incomplete_details: null,
    completed_at: 0,
    incomplete_at: null,
    metadata: {},
  }
}

const base = { instructions: 'Sys', history: [], runSteps: [], truncation: null, maxPromptTokens: null, renderToolCall: () => ({ name: 'x', arguments: '{}', output: '' }) }

describe('buildPrompt', () => {
  it('puts instructions and additional instructions in one system message', () => {
    const p = buildPrompt({ ...base, additionalInstructions: 'More', history: [msg('user', 'hi')] })
    expect(p.messages).toEqual([
      { role: 'system', content: 'Sys\n\nMore' },
      { role: 'user', content: 'hi' },
    ])
  })

  it('omits an empty system message', () => {
    expect(buildPrompt({ ...base, instructions: '', history: [msg('user', 'hi')] }).messages).toEqual([{ role: 'user', content: 'hi' }])
  })

  it('last_messages keeps the n newest', () => {
    const history = [msg('user', 'a'), msg('assistant', 'b'), msg('user', 'c')]
    const p = buildPrompt({ ...base, history, truncation: { type: 'last_messages', last_messages: 2 } })
    expect(p.messages.map((m) => m.content)).toEqual(['Sys', 'b', 'c'])
  })

  it('auto truncation drops the oldest until max_prompt_tokens fits, keeping the newest', () => {
    const history = [msg('user', 'x '.repeat(200)), msg('user', 'y '.repeat(200)), msg('user', 'last')]
    const p = buildPrompt({ ...base, history, truncation: { type: 'auto' }, maxPromptTokens: 256 })
    expect(p.messages.map((m) => m.content)).toEqual(['Sys', 'y '.repeat(200), 'last'])
    expect(p.overBudget).toBe(false)
    expect(p.promptTokens).toBeLessThanOrEqual(256)
    const tight = buildPrompt({ ...base, history: [msg('user', 'z '.repeat(400))], maxPromptTokens: 256 })
    expect(tight.overBudget).toBe(true)
  })

  it('replays the run’s tool calls with their outputs', () => {
    const step = {
      step_details: { type: 'tool_calls', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}', output: 'done' } }] },
    } as unknown as RunStepRow
    const p = buildPrompt({
      ...base,
      history: [msg('user', 'go')],
      runSteps: [{ step }],
      renderToolCall: (c: any) => ({ name: c.function.name, arguments: c.function.arguments, output: c.function.output }),
    })
    expect(p.messages.slice(-2)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'done' },
    ])
  })

  it('sends image_url parts as content parts', () => {
    const m = msg('user', 'look')
    m.content = [
      { type: 'text', text: { value: 'look', annotations: [] } },
      { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
    ]
    expect(buildPrompt({ ...base, history: [m] }).messages[1]).toEqual({
      role: 'user',
      content: [
        { type: 'text', text: 'look' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
      ],
    })
  })
})
