import { z } from 'zod'
import { describe, expect, it } from 'vitest'
import { ApiError } from '../../src/protocol/errors.ts'
import { CreateAssistant, CreateMessage, CreateThread, Metadata, ModifyAssistant, ModifyMessage, ModifyThread } from '../../src/protocol/schemas.ts'
import { describeSchema, describeValue, paramPath, parseWith, quotedList } from '../../src/protocol/validation.ts'
import { ListQuery, parseListQuery } from '../../src/store/pagination.ts'

function errorOf(schema: z.ZodType, input: unknown) {
  try {
    parseWith(schema, input)
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError)
    const err = e as ApiError
    expect(err.status).toBe(400)
    return err.toBody().error
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`)
}

describe('helpers', () => {
  it('paramPath names params as OpenAI does', () => {
    expect(paramPath([])).toBe('')
    expect(paramPath(['model'])).toBe('model')
    expect(paramPath(['messages', 0, 'content', 2, 'image_url', 'url'])).toBe('messages[0].content[2].image_url.url')
    expect(paramPath([0, 'a'])).toBe('[0].a')
  })

  it('quotedList uses an Oxford comma', () => {
    expect(quotedList(['a'])).toBe("'a'")
    expect(quotedList(['asc', 'desc'])).toBe("'asc' and 'desc'")
    expect(quotedList(['a', 'b', 'c'], 'or')).toBe("'a', 'b', or 'c'")
  })

  it('describeValue names JSON types', () => {
    expect([null, [], 'x', 1, 1.5, true, {}].map(describeValue)).toEqual([
      'null',
      'an array',
      'a string',
      'an integer',
      'a decimal number',
      'a boolean',
      'an object',
    ])
  })

  it('describeSchema names expected types', () => {
    expect(describeSchema(z.number().int())).toBe('an integer')
    expect(describeSchema(z.number().nullable().optional())).toBe('a decimal')
    expect(describeSchema(z.array(z.object({})))).toBe('an array of objects')
    expect(describeSchema(z.array(z.string()))).toBe('an array of strings')
    expect(describeSchema(z.union([z.string(), z.array(z.object({}))]))).toBe('one of a string or array of objects')
    expect(describeSchema(z.enum(['a', 'b']))).toBe("one of 'a' or 'b'")
  })
})

describe('zod issues → OpenAI errors', () => {
  it('reports unknown top-level arguments without param or code, nested ones by path', () => {
    expect(errorOf(CreateAssistant, { model: 'm', foo: 1 })).toEqual({
      message: 'Unrecognized request argument supplied: foo',
      type: 'invalid_request_error',
      param: null,
      code: null,
    })
    expect(errorOf(CreateAssistant, { model: 'm', foo: 1, bar: 2 }).message).toBe('Unrecognized request arguments supplied: foo, bar')
    expect(errorOf(CreateAssistant, { model: 'm', tools: [{ type: 'code_interpreter', extra: true }] })).toMatchObject({
      message: "Unknown parameter: 'tools[0].extra'.",
      param: 'tools[0].extra',
      code: 'unknown_parameter',
    })
  })

  it('modify schemas are strict too', () => {
    expect(errorOf(ModifyAssistant, { foo: 1 }).message).toBe('Unrecognized request argument supplied: foo')
    expect(errorOf(ModifyAssistant, { tools: [{ type: 'function', function: { name: 'f', parameter: {} } }] }).param).toBe('tools[0].function.parameter')
    expect(errorOf(ModifyThread, { messages: [] }).message).toBe('Unrecognized request argument supplied: messages')
    expect(errorOf(ModifyMessage, { content: 'x' }).message).toBe('Unrecognized request argument supplied: content')
  })

  it('a missing required parameter wins over an unknown one; an unknown one over a bad type', () => {
    expect(errorOf(CreateAssistant, { foo: 1 }).param).toBe('model')
    expect(errorOf(CreateAssistant, { model: 'm', temperature: 'x', foo: 1 }).message).toBe('Unrecognized request argument supplied: foo')
  })

  it('distinguishes integer and decimal bounds', () => {
    expect(errorOf(ListQuery, { limit: '0' })).toMatchObject({ code: 'integer_below_min_value', param: 'limit' })
    expect(errorOf(CreateAssistant, { model: 'm', top_p: 2 })).toMatchObject({
      code: 'decimal_above_max_value',
      message: "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 2 instead.",
    })
  })

  it('reports wrong types with expected and received types', () => {
    expect(errorOf(CreateAssistant, { model: 'm', tools: [{ type: 'file_search', file_search: { max_num_results: 2.5 } }] })).toMatchObject({
      param: 'tools[0].file_search.max_num_results',
      code: 'invalid_type',
      message: "Invalid type for 'tools[0].file_search.max_num_results': expected an integer, but got a decimal number instead.",
    })
    expect(errorOf(CreateMessage, { role: 'user', content: {} }).message).toBe(
      "Invalid type for 'content': expected one of a string or array of objects, but got an object instead.",
    )
    expect(errorOf(CreateMessage, { role: 3, content: 'x' })).toMatchObject({ param: 'role', code: 'invalid_type' })
  })

  it('reports discriminator problems on the discriminator', () => {
    expect(errorOf(CreateMessage, { role: 'user', content: [{ type: 'video' }] })).toMatchObject({
      param: 'content[0].type',
      code: 'invalid_value',
      message: "Invalid value: 'video'. Supported values are: 'text', 'image_file', and 'image_url'.",
    })
    expect(errorOf(CreateMessage, { role: 'user', content: [{}] })).toMatchObject({ param: 'content[0].type', code: 'missing_required_parameter' })
    expect(errorOf(CreateMessage, { role: 'user', content: [{ type: 1 }] })).toMatchObject({ param: 'content[0].type', code: 'invalid_type' })
    expect(errorOf(CreateAssistant, { model: 'm', response_format: { type: 'yaml' } })).toMatchObject({ param: 'response_format.type', code: 'invalid_value' })
    expect(errorOf(CreateAssistant, { model: 'm', response_format: { type: 'json_schema', json_schema: {} } })).toMatchObject({
      param: 'response_format.json_schema.name',
      code: 'missing_required_parameter',
    })
  })

  it('enforces the metadata limits with OpenAI codes', () => {
    const ok = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`.padEnd(64, 'x'), 'v'.repeat(512)]))
    expect(parseWith(Metadata, ok)).toEqual(ok)
    expect(parseWith(Metadata, null)).toBeNull()
    expect(errorOf(CreateThread, { metadata: { ...ok, extra: 'v' } })).toMatchObject({ param: 'metadata', code: 'object_above_max_properties' })
    expect(errorOf(CreateThread, { metadata: { ['k'.repeat(65)]: 'v' } })).toMatchObject({
      param: `metadata.${'k'.repeat(65)}`,
      code: 'property_name_above_max_length',
    })
    expect(errorOf(CreateThread, { messages: [{ role: 'user', content: 'x', metadata: { k: 'v'.repeat(513) } }] })).toMatchObject({
      param: 'messages[0].metadata.k',
      code: 'string_above_max_length',
    })
  })

  it('strings: empty, too long, not a URL', () => {
    expect(errorOf(CreateAssistant, { model: '' })).toMatchObject({ code: 'empty_string', param: 'model' })
    expect(errorOf(ModifyAssistant, { instructions: 'x'.repeat(256_001) })).toMatchObject({ code: 'string_above_max_length', param: 'instructions' })
    expect(errorOf(CreateMessage, { role: 'user', content: [{ type: 'image_url', image_url: { url: 'nope' } }] })).toMatchObject({
      param: 'content[0].image_url.url',
      code: 'invalid_value',
    })
  })
})

describe('list query', () => {
  it('defaults and parses', () => {
    expect(parseListQuery({})).toEqual({ limit: 20, order: 'desc' })
    expect(parseListQuery({ limit: '100', order: 'asc', after: 'x', before: 'y' })).toEqual({ limit: 100, order: 'asc', after: 'x', before: 'y' })
    expect(parseListQuery({ run_id: 'run_1' }, { run_id: z.string().optional() })).toEqual({ limit: 20, order: 'desc', run_id: 'run_1' })
  })

  it('rejects non-integers and unknown params', () => {
    for (const limit of ['abc', '1.5', '', ' 3', '0x10']) expect(errorOf(ListQuery, { limit }).param).toBe('limit')
    expect(errorOf(ListQuery, { limit: '-1' }).code).toBe('integer_below_min_value')
    expect(errorOf(ListQuery, { run_id: 'x' }).message).toBe('Unrecognized request argument supplied: run_id')
  })
})
