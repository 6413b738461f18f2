import { describe, expect, it } from 'vitest'
import { codeDelta, partialCode } from '../../src/tools/code-interpreter/partial-code.ts'
import { CodeInterpreterTool } from '../../src/tools/code-interpreter/tool.ts'

describe('partial code from streamed arguments', () => {
  const full = JSON.stringify({ code: 'print("héllo\\n")\nx = "😀"\t# done' })

  it('decodes every prefix to a prefix of the code, never a broken escape or half a surrogate pair', () => {
    const code = JSON.parse(full).code as string
    let previous = ''
    for (let i = 0; i <= full.length; i++) {
      const part = partialCode(full.slice(0, i))
      expect(code.startsWith(part)).toBe(true)
      expect(part.length).toBeGreaterThanOrEqual(previous.length)
      previous = part
    }
    expect(previous).toBe(code)
  })

  it('handles \\u escapes, including surrogate pairs cut anywhere', () => {
    const json = '{"code": "a\\u00e9b\\ud83d\\ude00c"}'
    expect(partialCode(json)).toBe('aéb😀c')
    expect(partialCode(json.slice(0, json.indexOf('\\ude00') + 3))).toBe('aéb')
  })

  it('gives the added code between fragments, and nothing before the code key', () => {
    expect(partialCode('{"co')).toBe('')
    expect(codeDelta('{"code": "pri', '{"code": "print(1)')).toBe('nt(1)')
    expect(codeDelta('{"code": "a\\', '{"code": "a\\nb')).toBe('\nb')
    const tool = new CodeInterpreterTool({} as never, async () => ({ unavailable: 'test' }))
    expect(tool.argumentsDelta('{"code": "x', '{"code": "x = 1')).toEqual({ type: 'code_interpreter', code_interpreter: { input: ' = 1' } })
    expect(tool.argumentsDelta('{"code": "x', '{"code": "x\\')).toBeNull()
  })

  it('announces results with indexed outputs and without id (or input, once streamed)', () => {
    const tool = new CodeInterpreterTool({} as never, async () => ({ unavailable: 'test' }))
    const call = { id: 'call_1', type: 'code_interpreter' as const, code_interpreter: { input: 'print(1)', outputs: [{ type: 'logs' as const, logs: '1\n' }] } }
    expect(tool.resultDelta(call, true)).toEqual({ type: 'code_interpreter', code_interpreter: { outputs: [{ index: 0, type: 'logs', logs: '1\n' }] } })
    expect(tool.resultDelta(call, false)).toEqual({ type: 'code_interpreter', code_interpreter: { input: 'print(1)', outputs: [{ index: 0, type: 'logs', logs: '1\n' }] } })
  })
})
