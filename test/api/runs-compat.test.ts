/**
 * Runs against OpenAI's spec, through the official SDK: request limits the spec states (run tools
 * ≤ 20, reasoning effort values, name patterns, truncation shape), the run object's defaults and
 * inheritance from its assistant, tool-output and cancel errors, and run/step list pagination.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { collectEvents, names, functionCallRunEvents } from '../support/stream.ts'

let t: TestContext
let assistantId: string
const fnTool = (name: string) => ({ type: 'function' as const, function: { name, parameters: { type: 'object', properties: {} } } })

beforeAll(async () => {
  t = await startTestServer()
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [fnTool('get_time')] })).id
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

const newThread = async () => (await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })).id
const countThreads = async () => (await t.server.services.db.selectFrom('threads').select('id').execute()).length

/** The OpenAI error body of a request the SDK sent, which must fail with 400. */
async function badRequest(request: Promise<unknown>) {
  const err = await request.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(OpenAI.BadRequestError)
  return (err as InstanceType<typeof OpenAI.BadRequestError>).error as { message: string; type: string; param: string | null; code: string | null }
}

describe('run request limits from the spec', () => {
  it('accepts every reasoning_effort value of the spec, including max', async () => {
    const a = await t.client.beta.assistants.create({ model: 'o3', reasoning_effort: 'max' })
    expect(a).toMatchObject({ reasoning_effort: 'max' })
    const thread = await newThread()
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: a.id, reasoning_effort: 'xhigh' })
    expect(run.status).toBe('completed')
    expect(t.upstream.lastChat().reasoning_effort).toBe('xhigh')
    const inherited = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: a.id })
    expect(t.upstream.lastChat().reasoning_effort).toBe('max')
    expect(inherited.status).toBe('completed')
  })

  it('a run overrides the tools with at most 20; create-and-run too, leaving no thread behind', async () => {
    const thread = await newThread()
    const tools = Array.from({ length: 21 }, (_, i) => fnTool(`f${i}`))
    expect(await badRequest(t.client.beta.threads.runs.create(thread, { assistant_id: assistantId, tools }))).toEqual({
      message: "Invalid 'tools': array too long. Expected an array with maximum length 20, but got an array with length 21 instead.",
      type: 'invalid_request_error',
      param: 'tools',
      code: 'array_above_max_length',
    })
    const threads = await countThreads()
    expect(await badRequest(t.client.beta.threads.createAndRun({ assistant_id: assistantId, tools }))).toMatchObject({ param: 'tools', code: 'array_above_max_length' })
    expect(await countThreads()).toBe(threads)
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId, tools: tools.slice(0, 20) })
    expect(run.tools).toHaveLength(20)
    expect(t.upstream.lastChat().tools).toHaveLength(20)
  })

  it('truncation_strategy is echoed whole (last_messages null when not given) and rejects unknown fields', async () => {
    const thread = await newThread()
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId, truncation_strategy: { type: 'last_messages' } })
    expect(run.truncation_strategy).toEqual({ type: 'last_messages', last_messages: null })
    expect((await t.client.beta.threads.runs.retrieve(run.id, { thread_id: thread })).truncation_strategy).toEqual({ type: 'last_messages', last_messages: null })
    const auto = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId, truncation_strategy: { type: 'auto' } })
    expect(auto.truncation_strategy).toEqual({ type: 'auto', last_messages: null })
    expect(
      await badRequest(t.client.beta.threads.runs.create(thread, { assistant_id: assistantId, truncation_strategy: { type: 'auto', keep: 3 } as never })),
    ).toEqual({
      message: "Unknown parameter: 'truncation_strategy.keep'.",
      type: 'invalid_request_error',
      param: 'truncation_strategy.keep',
      code: 'unknown_parameter',
    })
    expect(
      await badRequest(t.client.beta.threads.runs.create(thread, { assistant_id: assistantId, truncation_strategy: { type: 'newest' } as never })),
    ).toMatchObject({ param: 'truncation_strategy.type', code: 'invalid_value' })
  })

  it('function and json_schema names must match ^[a-zA-Z0-9_-]+$', async () => {
    const pattern = "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
    expect(await badRequest(t.client.beta.assistants.create({ model: 'gpt-4o', tools: [fnTool('get weather')] }))).toEqual({
      message: `Invalid 'tools[0].function.name': string does not match pattern. ${pattern}`,
      type: 'invalid_request_error',
      param: 'tools[0].function.name',
      code: 'invalid_value',
    })
    const jsonSchema = (name: string) => ({ type: 'json_schema' as const, json_schema: { name, schema: { type: 'object' } } })
    expect(await badRequest(t.client.beta.assistants.create({ model: 'gpt-4o', response_format: jsonSchema('my answer') }))).toEqual({
      message: `Invalid 'response_format.json_schema.name': string does not match pattern. ${pattern}`,
      type: 'invalid_request_error',
      param: 'response_format.json_schema.name',
      code: 'invalid_value',
    })
    const thread = await newThread()
    expect(
      await badRequest(t.client.beta.threads.runs.create(thread, { assistant_id: assistantId, response_format: jsonSchema('x'.repeat(65)) })),
    ).toMatchObject({ param: 'response_format.json_schema.name', code: 'string_above_max_length' })
    const ok = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId, response_format: jsonSchema('My_answer-2') })
    expect(ok.response_format).toEqual(jsonSchema('My_answer-2'))
    expect(t.upstream.lastChat().response_format).toEqual(jsonSchema('My_answer-2'))
  })

  it('tool_choice: unsupported strings and tools the run does not have are 400s', async () => {
    const thread = await newThread()
    expect(await badRequest(t.client.beta.threads.runs.create(thread, { assistant_id: assistantId, tool_choice: 'always' as never }))).toEqual({
      message: "Invalid value: 'always'. Supported values are: 'none', 'auto', and 'required'.",
      type: 'invalid_request_error',
      param: 'tool_choice',
      code: 'invalid_value',
    })
    expect(
      await badRequest(t.client.beta.threads.runs.create(thread, { assistant_id: assistantId, tool_choice: { type: 'function' } as never })),
    ).toMatchObject({ param: 'tool_choice.function', code: 'missing_required_parameter' })
    expect(await badRequest(t.client.beta.threads.runs.create(thread, { assistant_id: assistantId, tool_choice: { type: 'file_search' } }))).toMatchObject({
      param: 'tool_choice',
      code: 'invalid_value',
    })
    // Forcing a tool the run does have is fine (here: the override adds it).
    const forced = await t.client.beta.threads.runs.createAndPoll(thread, {
      assistant_id: assistantId,
      tools: [{ type: 'code_interpreter' }, fnTool('get_time')],
      tool_choice: { type: 'function', function: { name: 'get_time' } },
    })
    expect(forced.tool_choice).toEqual({ type: 'function', function: { name: 'get_time' } })
    expect(t.upstream.chatRequests).toHaveLength(1)

    // createAndRun checks before the thread is written.
    const threads = await countThreads()
    expect(
      await badRequest(
        t.client.beta.threads.createAndRun({
          assistant_id: assistantId,
          thread: { messages: [{ role: 'user', content: 'x' }] },
          tool_choice: { type: 'function', function: { name: 'nope' } },
        }),
      ),
    ).toMatchObject({ param: 'tool_choice', code: 'invalid_value' })
    expect(await countThreads()).toBe(threads)
  })

  it("response_format: a string other than 'auto' is an unsupported value", async () => {
    const thread = await newThread()
    expect(await badRequest(t.client.beta.threads.runs.create(thread, { assistant_id: assistantId, response_format: 'json' as never }))).toEqual({
      message: "Invalid value: 'json'. Supported values are: 'auto'.",
      type: 'invalid_request_error',
      param: 'response_format',
      code: 'invalid_value',
    })
  })
})

describe('the run object', () => {
  it('inherits every setting from its assistant and fills OpenAI defaults', async () => {
    const a = await t.client.beta.assistants.create({
      model: 'gpt-4o-mini',
      instructions: 'Be helpful.',
      tools: [fnTool('lookup')],
      temperature: 0.4,
      top_p: 0.8,
      response_format: { type: 'json_object' },
      reasoning_effort: 'low',
    })
    const thread = await newThread()
    const run = await t.client.beta.threads.runs.create(thread, { assistant_id: a.id })
    expect(run).toEqual({
      id: expect.stringMatching(/^run_/),
      object: 'thread.run',
      created_at: expect.any(Number),
      thread_id: thread,
      assistant_id: a.id,
      status: 'queued',
      required_action: null,
      last_error: null,
      expires_at: run.created_at + 600,
      started_at: null,
      cancelled_at: null,
      failed_at: null,
      completed_at: null,
      incomplete_details: null,
      model: 'gpt-4o-mini',
      instructions: 'Be helpful.',
      tools: [fnTool('lookup')],
      metadata: {},
      usage: null,
      temperature: 0.4,
      top_p: 0.8,
      max_prompt_tokens: null,
      max_completion_tokens: null,
      truncation_strategy: { type: 'auto', last_messages: null },
      response_format: { type: 'json_object' },
      tool_choice: 'auto',
      parallel_tool_calls: true,
      reasoning_effort: 'low',
    })
    const done = await t.client.beta.threads.runs.poll(run.id, { thread_id: thread })
    expect(done).toMatchObject({ status: 'completed', expires_at: null, usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })
    expect(done.started_at).toBeGreaterThanOrEqual(run.created_at)
    expect(done.completed_at).toBeGreaterThanOrEqual(done.started_at!)
  })

  it('run-level settings override the assistant for that run only', async () => {
    const a = await t.client.beta.assistants.create({ model: 'gpt-4o-mini', instructions: 'Assistant says.', temperature: 0.4 })
    const thread = await newThread()
    const run = await t.client.beta.threads.runs.createAndPoll(thread, {
      assistant_id: a.id,
      model: 'gpt-4.1',
      instructions: 'Run says.',
      tools: [{ type: 'code_interpreter' }],
      temperature: 0,
      top_p: 0.5,
      max_prompt_tokens: 5000,
      max_completion_tokens: 1000,
      parallel_tool_calls: false,
      metadata: { purpose: 'test' },
    })
    expect(run).toMatchObject({
      status: 'completed',
      model: 'gpt-4.1',
      instructions: 'Run says.',
      tools: [{ type: 'code_interpreter' }],
      temperature: 0,
      top_p: 0.5,
      max_prompt_tokens: 5000,
      max_completion_tokens: 1000,
      parallel_tool_calls: false,
      metadata: { purpose: 'test' },
    })
    const req = t.upstream.lastChat()
    expect(req.model).toBe('gpt-4.1')
    expect(req.temperature).toBe(0)
    expect(req.messages[0]).toEqual({ role: 'system', content: 'Run says.' })

    // additional_instructions are appended to the assistant's, and the run shows what it used.
    const more = await t.client.beta.threads.runs.create(thread, { assistant_id: a.id, additional_instructions: 'Also this.' })
    expect(more.instructions).toBe('Assistant says.\n\nAlso this.')
    const moreDone = await t.client.beta.threads.runs.poll(more.id, { thread_id: thread })
    expect(moreDone.instructions).toBe('Assistant says.\n\nAlso this.')
    expect(t.upstream.lastChat().messages[0]).toEqual({ role: 'system', content: 'Assistant says.\n\nAlso this.' })
    // The assistant itself is unchanged.
    expect(await t.client.beta.assistants.retrieve(a.id)).toMatchObject({ model: 'gpt-4o-mini', instructions: 'Assistant says.', temperature: 0.4, tools: [] })
  })
})

describe('modify run', () => {
  it('takes metadata only; metadata changed while the run waits survives its continuation', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_meta' }] }, { text: 'Noon.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId, metadata: { a: '1' } })
    expect(run.status).toBe('requires_action')
    expect(await badRequest(t.client.beta.threads.runs.update(run.id, { thread_id: thread, status: 'completed' } as never))).toEqual({
      message: 'Unrecognized request argument supplied: status',
      type: 'invalid_request_error',
      param: null,
      code: null,
    })
    const updated = await t.client.beta.threads.runs.update(run.id, { thread_id: thread, metadata: { b: '2' } })
    expect(updated).toEqual({ ...run, metadata: { b: '2' } })
    const done = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: thread, tool_outputs: [{ tool_call_id: 'call_meta', output: '12:00' }] })
    expect(done).toMatchObject({ status: 'completed', metadata: { b: '2' } })
  })
})

describe('tool outputs and cancel errors', () => {
  it('unknown fields in a tool output are rejected; runs that wait for nothing refuse outputs', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_time' }] }, { text: 'Noon.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId })
    expect(run.status).toBe('requires_action')
    expect(
      await badRequest(
        t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: thread, tool_outputs: [{ tool_call_id: 'call_time', output: '12:00', extra: 1 } as never] }),
      ),
    ).toEqual({ message: "Unknown parameter: 'tool_outputs[0].extra'.", type: 'invalid_request_error', param: 'tool_outputs[0].extra', code: 'unknown_parameter' })
    // Still waiting: nothing was applied.
    expect((await t.client.beta.threads.runs.retrieve(run.id, { thread_id: thread })).status).toBe('requires_action')
    const done = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: thread, tool_outputs: [{ tool_call_id: 'call_time', output: '12:00' }] })
    expect(done.status).toBe('completed')
    expect(
      await badRequest(t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: thread, tool_outputs: [{ tool_call_id: 'call_time', output: 'again' }] })),
    ).toEqual({ message: 'Runs in status "completed" do not accept tool outputs.', type: 'invalid_request_error', param: null, code: null })
    expect(await badRequest(t.client.beta.threads.runs.cancel(run.id, { thread_id: thread }))).toEqual({
      message: "Cannot cancel run with status 'completed'.",
      type: 'invalid_request_error',
      param: null,
      code: null,
    })
  })
})

describe('tool outputs: duplicates and deadlines', () => {
  it('outputs must answer exactly the waiting calls (OpenAI wording for missing and unknown ids)', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_a' }, { name: 'get_time', arguments: '{"tz":"CET"}', id: 'call_b' }] }, { text: 'Noon.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId })
    expect(run.status).toBe('requires_action')
    const submit = (tool_outputs: { tool_call_id: string; output: string }[]) =>
      badRequest(t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: thread, tool_outputs }))
    expect(await submit([{ tool_call_id: 'call_a', output: '1' }])).toEqual({
      message: "Expected tool outputs for call_ids ['call_a', 'call_b'], got ['call_a']",
      type: 'invalid_request_error',
      param: null,
      code: null,
    })
    expect((await submit([]))?.message).toBe("Expected tool outputs for call_ids ['call_a', 'call_b'], got []")
    expect(
      (
        await submit([
          { tool_call_id: 'call_a', output: '1' },
          { tool_call_id: 'call_b', output: '2' },
          { tool_call_id: 'call_zzz', output: '3' },
        ])
      )?.message,
    ).toBe("Expected tool outputs for call_ids ['call_a', 'call_b'], got ['call_a', 'call_b', 'call_zzz']")
    expect((await t.client.beta.threads.runs.retrieve(run.id, { thread_id: thread })).status).toBe('requires_action')
    // Any order is fine.
    const done = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, {
      thread_id: thread,
      tool_outputs: [
        { tool_call_id: 'call_b', output: '2' },
        { tool_call_id: 'call_a', output: '1' },
      ],
    })
    expect(done.status).toBe('completed')
  })

  it('two outputs for one call are refused, and nothing is applied', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_dup' }] }, { text: 'Noon.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId })
    expect(
      await badRequest(
        t.client.beta.threads.runs.submitToolOutputs(run.id, {
          thread_id: thread,
          tool_outputs: [
            { tool_call_id: 'call_dup', output: 'a' },
            { tool_call_id: 'call_dup', output: 'b' },
          ],
        }),
      ),
    ).toEqual({
      message: "Invalid 'tool_outputs[1].tool_call_id': more than one output for tool call 'call_dup'.",
      type: 'invalid_request_error',
      param: 'tool_outputs[1].tool_call_id',
      code: 'invalid_value',
    })
    const [step] = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread })).data
    expect(step.status).toBe('in_progress')
    const done = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: thread, tool_outputs: [{ tool_call_id: 'call_dup', output: 'a' }] })
    expect(done.status).toBe('completed')
  })

  it('outputs that arrive after expires_at find the run expired, even before the expiry sweep', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_late' }] })
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId })
    expect(run.status).toBe('requires_action')
    t.clock.advance(601_000)
    expect(
      await badRequest(t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: thread, tool_outputs: [{ tool_call_id: 'call_late', output: 'x' }] })),
    ).toEqual({ message: 'Runs in status "expired" do not accept tool outputs.', type: 'invalid_request_error', param: null, code: null })
    const expired = await t.client.beta.threads.runs.retrieve(run.id, { thread_id: thread })
    expect(expired).toMatchObject({ status: 'expired', expires_at: run.expires_at, required_action: null })
    const [step] = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread })).data
    expect(step).toMatchObject({ status: 'expired', expired_at: expect.any(Number) })
    // The thread takes new messages again.
    await t.client.beta.threads.messages.create(thread, { role: 'user', content: 'back' })

    // A cancel after the deadline finds it expired too.
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_late2' }] })
    const second = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId })
    expect(second.status).toBe('requires_action')
    t.clock.advance(601_000)
    expect(await badRequest(t.client.beta.threads.runs.cancel(second.id, { thread_id: thread }))).toEqual({
      message: "Cannot cancel run with status 'expired'.",
      type: 'invalid_request_error',
      param: null,
      code: null,
    })
    expect((await t.client.beta.threads.runs.retrieve(second.id, { thread_id: thread })).status).toBe('expired')
  })
})

describe('max_prompt_tokens bounds the whole run', () => {
  it('the call after tool outputs gets only what the first left; none left → incomplete without calling the model', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_budget' }], usage: { prompt_tokens: 300, completion_tokens: 4, total_tokens: 304 } })
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId, max_prompt_tokens: 300 })
    expect(run.status).toBe('requires_action')
    const done = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, {
      thread_id: thread,
      tool_outputs: [{ tool_call_id: 'call_budget', output: '12:00' }],
    })
    expect(done).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_prompt_tokens' },
      usage: { prompt_tokens: 300, completion_tokens: 4, total_tokens: 304 },
      expires_at: null,
    })
    expect(t.upstream.chatRequests).toHaveLength(1)
  })

  it('a run whose calls stay within the budget completes, and the second call sees the whole thread', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_ok' }], usage: { prompt_tokens: 20, completion_tokens: 4, total_tokens: 24 } })
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId, max_prompt_tokens: 300 })
    const done = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: thread, tool_outputs: [{ tool_call_id: 'call_ok', output: '12:00' }] })
    expect(done.status).toBe('completed')
    expect(t.upstream.lastChat().messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'tool'])
  })
})

describe('streams', () => {
  it('createAndRunStream with a function call: thread.created first, requires_action, then the continuation', async () => {
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{"tz":"UTC"}', id: 'call_s1' }] }, { text: 'It is noon.' })
    const first = t.client.beta.threads.createAndRunStream({ assistant_id: assistantId, thread: { messages: [{ role: 'user', content: 'Time?' }] } })
    const events = await collectEvents(first)
    expect(names(events)).toEqual(['thread.created', ...functionCallRunEvents(4)])
    const run = await first.finalRun()
    expect(run).toMatchObject({ status: 'requires_action', thread_id: events[0].data.id, expires_at: run.created_at + 600, usage: null })
    const [waitingStep] = await first.finalRunSteps()
    expect(waitingStep).toMatchObject({ type: 'tool_calls', status: 'in_progress' })

    const second = t.client.beta.threads.runs.submitToolOutputsStream(run.id, { thread_id: run.thread_id, tool_outputs: [{ tool_call_id: 'call_s1', output: '12:00' }] })
    const more = await collectEvents(second)
    expect(names(more)[0]).toBe('thread.run.step.completed')
    expect(more[0].data).toMatchObject({ id: waitingStep.id, status: 'completed', step_details: { tool_calls: [{ function: { output: '12:00' } }] } })
    expect(names(more).at(-1)).toBe('thread.run.completed')
    expect(more.some((e) => e.event === 'thread.run.created')).toBe(false)
    const messages = await second.finalMessages()
    expect(messages.map((m) => m.content[0])).toEqual([{ type: 'text', text: { value: 'It is noon.', annotations: [] } }])
  })
})

describe('message endings', () => {
  it("a reply cut by the model's content filter ends incomplete with reason content_filter; the run completes", async () => {
    const thread = await newThread()
    t.upstream.enqueue({ text: 'I cannot contin', finishReason: 'content_filter' })
    const events = await collectEvents(t.client.beta.threads.runs.stream(thread, { assistant_id: assistantId }))
    expect(names(events).slice(-3)).toEqual(['thread.message.incomplete', 'thread.run.step.completed', 'thread.run.completed'])
    const incomplete = events.find((e) => e.event === 'thread.message.incomplete')!.data
    expect(incomplete).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'content_filter' }, completed_at: null })
    expect(incomplete.incomplete_at).toBeTypeOf('number')
    const [message] = (await t.client.beta.threads.messages.list(thread)).data
    expect(message).toMatchObject({ id: incomplete.id, status: 'incomplete', incomplete_details: { reason: 'content_filter' } })
    expect(message.content[0]).toMatchObject({ type: 'text', text: { value: 'I cannot contin' } })
  })
})

describe('run and step lists', () => {
  it('runs list newest first with cursors; steps list in both orders with has_more', async () => {
    const thread = await newThread()
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId })).id)
    const page = await t.client.beta.threads.runs.list(thread, { limit: 2 })
    expect(page.data.map((r) => r.id)).toEqual([ids[2], ids[1]])
    expect(page.hasNextPage()).toBe(true)
    const next = await t.client.beta.threads.runs.list(thread, { limit: 2, after: ids[1] })
    expect(next.data.map((r) => r.id)).toEqual([ids[0]])
    expect(next.hasNextPage()).toBe(false)
    const asc = await t.client.beta.threads.runs.list(thread, { order: 'asc', before: ids[2] })
    expect(asc.data.map((r) => r.id)).toEqual([ids[0], ids[1]])

    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_t' }] }, { text: 'Noon.' })
    const waiting = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId })
    await t.client.beta.threads.runs.submitToolOutputsAndPoll(waiting.id, { thread_id: thread, tool_outputs: [{ tool_call_id: 'call_t', output: '12:00' }] })
    const raw = await fetch(`${t.baseURL}/threads/${thread}/runs/${waiting.id}/steps?limit=1&order=asc`, {
      headers: { authorization: `Bearer ${t.apiKey}`, 'openai-beta': 'assistants=v2' },
    })
    const first = await raw.json()
    expect(first).toMatchObject({ object: 'list', has_more: true, first_id: first.data[0].id, last_id: first.data[0].id })
    expect(first.data[0]).toMatchObject({ object: 'thread.run.step', type: 'tool_calls', status: 'completed', run_id: waiting.id, thread_id: thread })
    const rest = await t.client.beta.threads.runs.steps.list(waiting.id, { thread_id: thread, order: 'asc', after: first.data[0].id })
    expect(rest.data.map((s) => s.type)).toEqual(['message_creation'])
    expect(rest.hasNextPage()).toBe(false)
    const step = await t.client.beta.threads.runs.steps.retrieve(first.data[0].id, { thread_id: thread, run_id: waiting.id })
    expect(step).toEqual(first.data[0])
    const err = await t.client.beta.threads.runs.steps.retrieve('step_nope', { thread_id: thread, run_id: waiting.id }).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
  })
})
