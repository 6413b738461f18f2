import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'

let t: TestContext
beforeAll(async () => {
  t = await startTestServer()
  // Named files and stores must exist (unknown ids are refused): FULL names real ones.
  const upload = async (name: string) => (await t.client.files.create({ file: await toFile(Buffer.from(name), name), purpose: 'assistants' })).id
  FULL.tool_resources.code_interpreter.file_ids = [await upload('abc.txt'), await upload('def.txt')]
  FULL.tool_resources.file_search.vector_store_ids = [(await t.client.vectorStores.create({ name: 'math' })).id]
})
afterAll(async () => t?.close())

const FULL = {
  model: 'gpt-4o',
  name: 'Math Tutor',
  description: 'Helps with algebra',
  instructions: 'You are a personal math tutor.',
  tools: [
    { type: 'code_interpreter' as const },
    { type: 'file_search' as const, file_search: { max_num_results: 7, ranking_options: { ranker: 'default_2024_08_21' as const, score_threshold: 0.5 } } },
    {
      type: 'function' as const,
      function: {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        strict: true,
      },
    },
  ],
  // Real ids, filled in beforeAll.
  tool_resources: { code_interpreter: { file_ids: [] as string[] }, file_search: { vector_store_ids: [] as string[] } },
  metadata: { team: 'math', level: '2' },
  temperature: 0.3,
  top_p: 0.9,
  response_format: {
    type: 'json_schema' as const,
    json_schema: {
      name: 'answer',
      description: 'An answer',
      schema: { type: 'object', properties: { value: { type: 'number' } }, required: ['value'], additionalProperties: false },
      strict: true,
    },
  },
  reasoning_effort: 'low' as const,
}

describe('assistants', () => {
  it('round-trips every field on create and retrieve', async () => {
    const before = Math.floor(Date.now() / 1000)
    const created = await t.client.beta.assistants.create(FULL)
    expect(created.id).toMatch(/^asst_[A-Za-z0-9]{20,}$/)
    expect(created.object).toBe('assistant')
    expect(created.created_at).toBeGreaterThanOrEqual(before)
    expect(created.created_at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000))
    const { id, object, created_at, ...fields } = created
    expect(fields).toEqual(FULL)
    const retrieved = await t.client.beta.assistants.retrieve(created.id)
    expect(retrieved).toEqual(created)
  })

  it('fills OpenAI defaults for a minimal assistant', async () => {
    const a = await t.client.beta.assistants.create({ model: 'gpt-4o-mini' })
    expect(a).toEqual({
      id: a.id,
      object: 'assistant',
      created_at: a.created_at,
      name: null,
      description: null,
      model: 'gpt-4o-mini',
      instructions: null,
      tools: [],
      tool_resources: {},
      metadata: {},
      top_p: 1,
      temperature: 1,
      response_format: 'auto',
      reasoning_effort: null,
    })
  })

  it('shows an empty resource list for each resource-backed tool given without resources, as OpenAI does', async () => {
    const a = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'code_interpreter' }, { type: 'file_search' }] })
    expect(a.tool_resources).toEqual({ code_interpreter: { file_ids: [] }, file_search: { vector_store_ids: [] } })
    expect((await t.client.beta.assistants.retrieve(a.id)).tool_resources).toEqual(a.tool_resources)
    // Functions need no resources; adding code_interpreter later shows its (empty) files.
    const f = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'function', function: { name: 'f' } }] })
    expect(f.tool_resources).toEqual({})
    const updated = await t.client.beta.assistants.update(f.id, { tools: [{ type: 'code_interpreter' }] })
    expect(updated.tool_resources).toEqual({ code_interpreter: { file_ids: [] } })
    const listed = (await t.client.beta.assistants.list({ limit: 100 })).data.find((x) => x.id === f.id)
    expect(listed?.tool_resources).toEqual({ code_interpreter: { file_ids: [] } })
    // A resource given without ids lists none.
    const empty = await t.client.beta.assistants.create({ model: 'gpt-4o', tool_resources: { code_interpreter: {} } })
    expect(empty.tool_resources).toEqual({ code_interpreter: { file_ids: [] } })
  })

  it('accepts every response_format form', async () => {
    for (const response_format of ['auto' as const, { type: 'text' as const }, { type: 'json_object' as const }]) {
      const a = await t.client.beta.assistants.create({ model: 'gpt-4o', response_format })
      expect(a.response_format).toEqual(response_format)
    }
  })

  it('modify changes only the given fields; null clears nullable ones', async () => {
    const a = await t.client.beta.assistants.create(FULL)
    const renamed = await t.client.beta.assistants.update(a.id, { name: 'Physics Tutor', metadata: { team: 'physics' } })
    expect(renamed).toEqual({ ...a, name: 'Physics Tutor', metadata: { team: 'physics' } })

    const changed = await t.client.beta.assistants.update(a.id, {
      model: 'gpt-4.1',
      instructions: 'Be terse.',
      tools: [{ type: 'code_interpreter' }],
      tool_resources: { code_interpreter: { file_ids: [] } },
      temperature: 1.5,
      top_p: 0.2,
      response_format: { type: 'json_object' },
      reasoning_effort: 'high',
    })
    expect(changed).toEqual({
      ...renamed,
      model: 'gpt-4.1',
      instructions: 'Be terse.',
      tools: [{ type: 'code_interpreter' }],
      tool_resources: { code_interpreter: { file_ids: [] } },
      temperature: 1.5,
      top_p: 0.2,
      response_format: { type: 'json_object' },
      reasoning_effort: 'high',
    })

    const cleared = await t.client.beta.assistants.update(a.id, {
      name: null,
      description: null,
      instructions: null,
      metadata: null,
      temperature: null,
      top_p: null,
      response_format: null,
      reasoning_effort: null,
    })
    expect(cleared).toMatchObject({
      name: null,
      description: null,
      instructions: null,
      metadata: {},
      temperature: 1,
      top_p: 1,
      response_format: 'auto',
      reasoning_effort: null,
      model: 'gpt-4.1',
    })
    expect(await t.client.beta.assistants.retrieve(a.id)).toEqual(cleared)
  })

  it('an empty modify returns the assistant unchanged', async () => {
    const a = await t.client.beta.assistants.create({ model: 'gpt-4o', name: 'Same' })
    expect(await t.client.beta.assistants.update(a.id, {})).toEqual(a)
  })

  it('delete returns the deletion object, then the assistant is gone', async () => {
    const a = await t.client.beta.assistants.create({ model: 'gpt-4o' })
    const deleted = await t.client.beta.assistants.delete(a.id)
    expect(deleted).toEqual({ id: a.id, object: 'assistant.deleted', deleted: true })
    const err = await t.client.beta.assistants.retrieve(a.id).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect(err.error).toEqual({ message: `No assistant found with id '${a.id}'.`, type: 'invalid_request_error', param: null, code: null })
    const again = await t.client.beta.assistants.delete(a.id).catch((e) => e)
    expect(again).toBeInstanceOf(OpenAI.NotFoundError)
    const list = await t.client.beta.assistants.list({ limit: 100 })
    expect(list.data.map((x) => x.id)).not.toContain(a.id)
  })

  it('modify of an unknown assistant is a 404 and creates nothing', async () => {
    const err = await t.client.beta.assistants.update('asst_doesnotexist', { name: 'x' }).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect(err.error.message).toBe("No assistant found with id 'asst_doesnotexist'.")
  })

  it('lists newest first by default with the list envelope', async () => {
    const fresh = await startTestServer()
    try {
      const ids: string[] = []
      for (let i = 0; i < 3; i++) ids.push((await fresh.client.beta.assistants.create({ model: 'gpt-4o', name: `n${i}` })).id)
      const page = await fresh.client.beta.assistants.list()
      expect(page.data.map((a) => a.id)).toEqual([...ids].reverse())
      const raw = await fetch(`${fresh.baseURL}/assistants?limit=2&order=asc`, { headers: { authorization: `Bearer ${fresh.apiKey}` } })
      expect(await raw.json()).toMatchObject({ object: 'list', first_id: ids[0], last_id: ids[1], has_more: true })
    } finally {
      await fresh.close()
    }
  })

  it('rejects invalid fields with OpenAI errors and stores nothing', async () => {
    const before = (await t.client.beta.assistants.list({ limit: 100 })).data.length
    const bad = [
      [{ model: 'gpt-4o', temperature: 2.5 }, 'temperature', 'decimal_above_max_value'],
      [{ model: 'gpt-4o', top_p: 1.1 }, 'top_p', 'decimal_above_max_value'],
      [{ model: 'gpt-4o', reasoning_effort: 'extreme' }, 'reasoning_effort', 'invalid_value'],
      [{ model: 'gpt-4o', tools: [{ type: 'web_search' }] }, 'tools[0].type', 'invalid_value'],
      [{ model: 'gpt-4o', tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].function.name', 'invalid_value'],
      [{ model: 'gpt-4o', tool_resources: { file_search: { vector_store_ids: ['vs_1', 'vs_2'] } } }, 'tool_resources.file_search.vector_store_ids', 'array_above_max_length'],
      [{ model: 'gpt-4o', response_format: { type: 'json_schema' } }, 'response_format.json_schema', 'missing_required_parameter'],
      [{ model: 'gpt-4o', name: 'x'.repeat(257) }, 'name', 'string_above_max_length'],
      [{ model: 'gpt-4o', description: 'x'.repeat(513) }, 'description', 'string_above_max_length'],
      [{ model: 'gpt-4o', tools: Array.from({ length: 129 }, () => ({ type: 'code_interpreter' })) }, 'tools', 'array_above_max_length'],
    ] as const
    for (const [body, param, code] of bad) {
      const err = await t.client.beta.assistants.create(body as never).catch((e) => e)
      expect(err, JSON.stringify(body).slice(0, 80)).toBeInstanceOf(OpenAI.BadRequestError)
      expect(err.error).toMatchObject({ type: 'invalid_request_error', param, code })
    }
    expect((await t.client.beta.assistants.list({ limit: 100 })).data.length).toBe(before)
  })
})
