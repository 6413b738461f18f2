import { toFile } from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { BwrapBackend } from '../../src/tools/code-interpreter/bwrap.ts'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { assertValidEvent, collectEvents, names } from '../support/stream.ts'

/**
 * code_interpreter end to end on the bubblewrap backend: the scripted upstream calls the tool,
 * the real server runs the code in the real sandbox, the SDK reads the run back.
 */
const unavailable = await BwrapBackend.probe()
// Skipped only off CI where bubblewrap is missing; CI installs it (.ci/run) and must run these.
const skip = unavailable !== null && process.env.CI !== 'true'
if (unavailable !== null && !skip) throw new Error(`the bubblewrap sandbox does not work here: ${unavailable}`)
const code = (src: string) => ({ toolCalls: [{ name: 'code_interpreter', arguments: JSON.stringify({ code: src }) }] })

describe.skipIf(skip)('code_interpreter (bwrap)', () => {
  let t: TestContext
  let assistantId: string

  beforeAll(async () => {
    t = await startTestServer({ codeSandbox: 'bwrap', codeTimeoutMs: 20_000 })
    assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'code_interpreter' }] })).id
  })
  afterAll(async () => t?.close())
  beforeEach(() => t.upstream.reset())

  async function runOn(threadId: string, ...scripts: Parameters<TestContext['upstream']['enqueue']>) {
    t.upstream.enqueue(...scripts)
    const run = await t.client.beta.threads.runs.createAndPoll(threadId, { assistant_id: assistantId }, { pollIntervalMs: 50 })
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: threadId, order: 'asc' })
    const calls = steps.data.flatMap((s) => (s.step_details.type === 'tool_calls' ? s.step_details.tool_calls : []))
    return { run, calls: calls as any[] }
  }

  it('runs print(6*7): logs output, the model sees it, the answer follows', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'What is 6 times 7?' }] })
    const { run, calls } = await runOn(thread.id, code('print(6*7)'), { text: 'The answer is 42.' })
    expect(run.status).toBe('completed')
    expect(calls).toHaveLength(1)
    expect(calls[0]).toEqual({ id: expect.stringMatching(/^call_/), type: 'code_interpreter', code_interpreter: { input: 'print(6*7)', outputs: [{ type: 'logs', logs: '42\n' }] } })
    // The tool result went back to the model as the function output.
    const followUp = t.upstream.lastChat()
    expect(followUp.tools.map((x: any) => x.function.name)).toEqual(['code_interpreter'])
    expect(followUp.messages.find((m: any) => m.role === 'tool')?.content).toBe('42\n')
    const messages = await t.client.beta.threads.messages.list(thread.id)
    expect((messages.data[0]!.content[0] as any).text.value).toBe('The answer is 42.')
  })

  it('reads an uploaded CSV with pandas and writes one: output file, file_path annotation, download', async () => {
    const csv = await t.client.files.create({ file: await toFile(Buffer.from('city,temp\nParis,21\nOslo,12\nRome,27\n'), 'temps.csv'), purpose: 'assistants' })
    const thread = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: 'Sort my temperatures', attachments: [{ file_id: csv.id, tools: [{ type: 'code_interpreter' }] }] }],
    })
    const { run, calls } = await runOn(
      thread.id,
      code('import pandas as pd\ndf = pd.read_csv("/mnt/data/temps.csv")\ndf.sort_values("temp").to_csv("/mnt/data/sorted.csv", index=False)\nprint(df.temp.mean())'),
      { text: 'Done: [sorted.csv](sandbox:/mnt/data/sorted.csv).' },
    )
    expect(run.status).toBe('completed')
    expect(calls[0].code_interpreter.outputs).toEqual([{ type: 'logs', logs: '20.0\n' }])
    // The model is told which files it can read and which it wrote (so it can link them).
    expect(t.upstream.lastChat().messages.find((m: any) => m.role === 'tool')?.content).toBe(
      '20.0\n\n[files available: /mnt/data/temps.csv]\n[file written: sandbox:/mnt/data/sorted.csv]',
    )
    const [message] = (await t.client.beta.threads.messages.list(thread.id, { limit: 1 })).data
    const text = (message!.content[0] as any).text
    expect(text.value).toBe('Done: [sorted.csv](sandbox:/mnt/data/sorted.csv).')
    expect(text.annotations).toHaveLength(1)
    const annotation = text.annotations[0]
    expect(annotation).toMatchObject({ type: 'file_path', text: 'sandbox:/mnt/data/sorted.csv', start_index: 19, end_index: 47 })
    expect(text.value.slice(annotation.start_index, annotation.end_index)).toBe('sandbox:/mnt/data/sorted.csv')
    const file = await t.client.files.retrieve(annotation.file_path.file_id)
    expect(file).toMatchObject({ purpose: 'assistants_output', filename: 'sorted.csv' })
    const body = await (await t.client.files.content(file.id)).text()
    expect(body).toBe('city,temp\nOslo,12\nParis,21\nRome,27\n')
  })

  it("places the assistant's and the thread's tool_resources files in /mnt/data", async () => {
    const upload = async (name: string, text: string) => (await t.client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'assistants' })).id
    const [fromAssistant, fromThread] = [await upload('a.txt', 'from the assistant'), await upload('t.txt', 'from the thread')]
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'code_interpreter' }], tool_resources: { code_interpreter: { file_ids: [fromAssistant] } } })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Read both' }], tool_resources: { code_interpreter: { file_ids: [fromThread] } } })
    t.upstream.enqueue(code('import os\nfor n in sorted(os.listdir("/mnt/data")):\n    print(n, open("/mnt/data/" + n).read())'), { text: 'Both read.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 50 })
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id })
    const call = steps.data.flatMap((s) => (s.step_details.type === 'tool_calls' ? s.step_details.tool_calls : []))[0] as any
    expect(call.code_interpreter.outputs).toEqual([{ type: 'logs', logs: 'a.txt from the assistant\nt.txt from the thread\n' }])
  })

  it("createAndRun's top-level code_interpreter files replace the assistant's for that run, next to the thread's", async () => {
    const upload = async (name: string, text: string) => (await t.client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'assistants' })).id
    const [fromAssistant, fromRun, fromThread] = [await upload('a.txt', 'assistant'), await upload('r.txt', 'run'), await upload('t.txt', 'thread')]
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'code_interpreter' }], tool_resources: { code_interpreter: { file_ids: [fromAssistant] } } })
    t.upstream.enqueue(code('import os\nfor n in sorted(os.listdir("/mnt/data")):\n    print(n, open("/mnt/data/" + n).read())'), { text: 'Read.' })
    const run = await t.client.beta.threads.createAndRunPoll(
      {
        assistant_id: assistant.id,
        thread: { messages: [{ role: 'user', content: 'List the files' }], tool_resources: { code_interpreter: { file_ids: [fromThread] } } },
        tool_resources: { code_interpreter: { file_ids: [fromRun] } },
      },
      { pollIntervalMs: 50 },
    )
    expect(run.status).toBe('completed')
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: run.thread_id })
    const call = steps.data.flatMap((s) => (s.step_details.type === 'tool_calls' ? s.step_details.tool_calls : []))[0] as any
    expect(call.code_interpreter.outputs).toEqual([{ type: 'logs', logs: 'r.txt run\nt.txt thread\n' }])
    expect((await t.client.beta.threads.retrieve(run.thread_id)).tool_resources).toEqual({ code_interpreter: { file_ids: [fromThread] } })
  })

  it('turns a matplotlib plot into an image output, a real PNG and an image_file part', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Plot squares' }] })
    const { calls } = await runOn(thread.id, code('import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()'), { text: 'Here is the plot.' })
    const outputs = calls[0].code_interpreter.outputs
    expect(outputs).toEqual([{ type: 'image', image: { file_id: expect.stringMatching(/^file-/) } }])
    const fileId = outputs[0].image.file_id
    expect(await t.client.files.retrieve(fileId)).toMatchObject({ purpose: 'assistants_output' })
    const png = Buffer.from(await (await t.client.files.content(fileId)).arrayBuffer())
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    expect(png.length).toBeGreaterThan(1000)
    const [message] = (await t.client.beta.threads.messages.list(thread.id, { limit: 1 })).data
    expect(message!.content.map((c) => c.type)).toEqual(['text', 'image_file'])
    expect((message!.content[1] as any).image_file.file_id).toBe(fileId)
  })

  it('keeps state across two runs on one thread, and threads apart', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Remember 41' }] })
    await runOn(thread.id, code('secret = 41\nopen("/mnt/data/note.txt", "w").write("kept")'), { text: 'Noted.' })
    await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'Add one' })
    const { calls } = await runOn(thread.id, code('print(secret + 1, open("/mnt/data/note.txt").read())'), { text: '42' })
    expect(calls[0].code_interpreter.outputs).toEqual([{ type: 'logs', logs: '42 kept\n' }])

    const other = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Do you know the secret?' }] })
    const { calls: otherCalls } = await runOn(other.id, code('import os\nprint("secret" in globals(), os.listdir("/mnt/data"))'), { text: 'No.' })
    expect(otherCalls[0].code_interpreter.outputs).toEqual([{ type: 'logs', logs: 'False []\n' }])
  })

  it('reports a traceback as logs and the run goes on', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Divide' }] })
    const { run, calls } = await runOn(thread.id, code('1 / 0'), { text: 'That failed.' })
    expect(run.status).toBe('completed')
    expect(calls[0].code_interpreter.outputs[0].logs).toMatch(/ZeroDivisionError: division by zero/)
  })

  it('streams the run: every event valid, input as step deltas while the model writes it, then the outputs', async () => {
    // Needs the executor to use ServerTool.argumentsDelta / resultDelta (see src/tools/code-interpreter/tool.ts).
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Compute' }] })
    const src = 'total = sum(range(10))\nprint(total)'
    t.upstream.enqueue(code(src), { text: 'It is 45.' })
    const events = await collectEvents(t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId }))
    expect(names(events).slice(0, 5)).toEqual(['thread.run.created', 'thread.run.queued', 'thread.run.in_progress', 'thread.run.step.created', 'thread.run.step.in_progress'])
    expect(names(events).at(-1)).toBe('thread.run.completed')
    const deltas = events.filter((e) => e.event === 'thread.run.step.delta').map((e) => e.data.delta.step_details.tool_calls[0])
    expect(deltas[0]).toEqual({ index: 0, id: expect.stringMatching(/^call_/), type: 'code_interpreter', code_interpreter: { input: '', outputs: [] } })
    const later = deltas.slice(1)
    expect(later.every((d) => d.index === 0 && d.type === 'code_interpreter' && !('id' in d))).toBe(true)
    // The code arrives in pieces while the model writes it, before the outputs.
    const inputs = later.filter((d) => d.code_interpreter.input !== undefined).map((d) => d.code_interpreter.input)
    expect(inputs.length).toBeGreaterThan(1)
    expect(inputs.join('')).toBe(src)
    expect(later.at(-1)).toEqual({ index: 0, type: 'code_interpreter', code_interpreter: { outputs: [{ index: 0, type: 'logs', logs: '45\n' }] } })
    const completedStep = events.find((e) => e.event === 'thread.run.step.completed' && e.data.type === 'tool_calls')!.data
    expect(completedStep.step_details.tool_calls[0].code_interpreter).toEqual({ input: src, outputs: [{ type: 'logs', logs: '45\n' }] })
  })

  it("streams through the SDK's AssistantStream: toolCallDone and the accumulated message equal what is retrieved", async () => {
    // Three rounds (a plot, a written CSV, a traceback), then an answer linking the CSV: what the
    // SDK builds from the deltas must be the objects the API returns when read back.
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Plot, save, divide' }] })
    t.upstream.enqueue(
      code('import matplotlib.pyplot as plt\nprint("plotting")\nplt.plot([1, 2], [3, 4])\nplt.show()'),
      code('with open("/mnt/data/out.csv", "w") as f:\n    f.write("a,b\\n1,2\\n")'),
      code('1 / 0'),
      { text: 'Saved [out.csv](sandbox:/mnt/data/out.csv); the plot is above.' },
    )
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId })
    const created: any[] = []
    const done: any[] = []
    const inputs = new Map<string, string>()
    let textSnapshot: any
    let messageSnapshot: any
    stream.on('event', (e) => assertValidEvent(e))
    stream.on('toolCallCreated', (c: any) => created.push(structuredClone(c)))
    stream.on('toolCallDelta', (d: any, snapshot: any) => {
      if (d.code_interpreter?.input) inputs.set(snapshot.id, (inputs.get(snapshot.id) ?? '') + d.code_interpreter.input)
    })
    stream.on('toolCallDone', (c: any) => done.push(structuredClone(c)))
    stream.on('textDone', (content) => (textSnapshot = structuredClone(content)))
    stream.on('messageDelta', (_delta, snapshot) => (messageSnapshot = structuredClone(snapshot)))
    const run = await stream.finalRun()
    expect(run.status).toBe('completed')

    const steps = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id, order: 'asc' })).data
    const calls = steps.flatMap((s) => (s.step_details.type === 'tool_calls' ? s.step_details.tool_calls : [])) as any[]
    expect(calls.map((c) => c.code_interpreter.outputs.map((o: any) => o.type))).toEqual([['logs', 'image'], [], ['logs']])
    expect(calls[2].code_interpreter.outputs[0].logs).toMatch(/Traceback[\s\S]*ZeroDivisionError: division by zero/)
    expect(created.map((c) => c.id)).toEqual(calls.map((c) => c.id))
    // The SDK keeps each array entry's delta `index`; apart from it, the accumulated call is the stored one.
    expect(done.map(withoutIndex)).toEqual(calls)
    expect([...inputs.values()]).toEqual(calls.map((c) => c.code_interpreter.input))
    const finalSteps = await stream.finalRunSteps()
    for (const step of steps) expect(finalSteps.find((s) => s.id === step.id)).toEqual(step)

    // The image became an assistants_output PNG and an image_file part; the CSV a file_path annotation.
    const imageId = calls[0].code_interpreter.outputs[1].image.file_id
    expect(await t.client.files.retrieve(imageId)).toMatchObject({ purpose: 'assistants_output' })
    const [message] = (await t.client.beta.threads.messages.list(thread.id, { limit: 1 })).data
    expect(message!.content).toEqual([
      {
        type: 'text',
        text: {
          value: 'Saved [out.csv](sandbox:/mnt/data/out.csv); the plot is above.',
          annotations: [{ type: 'file_path', text: 'sandbox:/mnt/data/out.csv', start_index: 16, end_index: 41, file_path: { file_id: expect.stringMatching(/^file-/) } }],
        },
      },
      { type: 'image_file', image_file: { file_id: imageId } },
    ])
    expect(withoutIndex(textSnapshot)).toEqual((message!.content[0] as any).text)
    expect(withoutIndex(messageSnapshot.content)).toEqual(message!.content)
    const messages = await stream.finalMessages()
    expect(messages.at(-1)!.content).toEqual(message!.content)
    const csvId = (message!.content[0] as any).text.annotations[0].file_path.file_id
    expect(await t.client.files.retrieve(csvId)).toMatchObject({ purpose: 'assistants_output', filename: 'out.csv' })
    expect(await (await t.client.files.content(csvId)).text()).toBe('a,b\n1,2\n')
  })

  it('two calls in one step: the SDK announces and finishes each once; the completed step has both results', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Two sums' }] })
    t.upstream.enqueue(
      { toolCalls: [{ name: 'code_interpreter', arguments: JSON.stringify({ code: 'print(1 + 1)' }) }, { name: 'code_interpreter', arguments: JSON.stringify({ code: 'print(2 + 2)' }) }] },
      { text: '2 and 4.' },
    )
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId })
    const created: string[] = []
    const done: string[] = []
    stream.on('toolCallCreated', (c: any) => created.push(c.id))
    stream.on('toolCallDone', (c: any) => done.push(c.id))
    const steps = await stream.finalRunSteps()
    const calls = (steps.find((s) => s.type === 'tool_calls')!.step_details as any).tool_calls as any[]
    expect(calls.map((c) => c.code_interpreter.outputs)).toEqual([[{ type: 'logs', logs: '2\n' }], [{ type: 'logs', logs: '4\n' }]])
    expect(created).toEqual(calls.map((c) => c.id))
    expect(done).toEqual(calls.map((c) => c.id))
  })

  it('a call cut off by the token limit is stored unexecuted with the input the stream already showed', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Compute' }] })
    t.upstream.enqueue({ ...code('print("never run")'), finishReason: 'length' })
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId, max_completion_tokens: 256 })
    const done: any[] = []
    stream.on('toolCallDone', (c: any) => done.push(structuredClone(c)))
    const run = await stream.finalRun()
    expect(run).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_completion_tokens' } })
    const [step] = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id })).data
    const call = { id: expect.stringMatching(/^call_/), type: 'code_interpreter', code_interpreter: { input: 'print("never run")', outputs: [] } }
    expect(step!.step_details).toEqual({ type: 'tool_calls', tool_calls: [call] })
    expect(done.map(withoutIndex)).toEqual([call])
  })

  it('a run cancelled while its code runs closes the step with the call as streamed', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Wait' }] })
    await runOn(thread.id, code('started = True'), { text: 'Ready.' }) // the session is up: the cancel lands mid-cell
    const src = 'import time\ntime.sleep(15)'
    t.upstream.enqueue(code(src), { text: 'not reached' })
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId })
    const done: any[] = []
    let cancelled: Promise<unknown> | undefined
    stream.on('toolCallDelta', (_d, snapshot: any) => {
      // The code is all written: it runs now. Cancel during the sleep.
      if (snapshot.code_interpreter.input === src && !cancelled) {
        cancelled = new Promise((r) => setTimeout(r, 1000)).then(() => t.client.beta.threads.runs.cancel(stream.currentRun()!.id, { thread_id: thread.id }))
      }
    })
    stream.on('toolCallDone', (c: any) => done.push(structuredClone(c)))
    const run = await stream.finalRun()
    await cancelled
    expect(run.status).toBe('cancelled')
    const steps = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id })).data
    // Interrupted at once, and nothing after it: no answer from the model.
    expect(run.cancelled_at! - run.created_at).toBeLessThan(10)
    expect(steps).toHaveLength(1)
    const step = steps[0]
    expect(step!.status).toBe('cancelled')
    const call = { id: expect.stringMatching(/^call_/), type: 'code_interpreter', code_interpreter: { input: src, outputs: [] } }
    expect(step!.step_details).toEqual({ type: 'tool_calls', tool_calls: [call] })
    expect(done.map(withoutIndex)).toEqual([call])
  })

  it('a file attached to a later message reaches the running session; outputs list under assistants_output', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Start' }] })
    await runOn(thread.id, code('x = 1'), { text: 'Started.' })
    const later = await t.client.files.create({ file: await toFile(Buffer.from('late'), 'late.txt'), purpose: 'assistants' })
    await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'Now this', attachments: [{ file_id: later.id, tools: [{ type: 'code_interpreter' }] }] })
    expect((await t.client.beta.threads.retrieve(thread.id)).tool_resources?.code_interpreter?.file_ids).toEqual([later.id])
    const { calls } = await runOn(thread.id, code('print(x, open("/mnt/data/late.txt").read())\nopen("/mnt/data/echo.txt", "w").write("e")'), { text: 'See sandbox:/mnt/data/echo.txt' })
    expect(calls[0].code_interpreter.outputs).toEqual([{ type: 'logs', logs: '1 late\n1\n' }])
    const [message] = (await t.client.beta.threads.messages.list(thread.id, { limit: 1 })).data
    const fileId = (message!.content[0] as any).text.annotations[0].file_path.file_id
    const outputs = await t.client.files.list({ purpose: 'assistants_output' })
    expect(outputs.data.find((f) => f.id === fileId)).toMatchObject({ object: 'file', purpose: 'assistants_output', filename: 'echo.txt', bytes: 1 })
  })

  it('contains memory and fork bombs as logs outputs; the session survives', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Bombs' }] })
    const { run, calls } = await runOn(
      thread.id,
      code('alive = "yes"\nhog = []\nwhile True:\n    hog.append(bytearray(100 * 1024 * 1024))'),
      code('del hog\nimport os\nfor _ in range(5000):\n    os.fork()'),
      code('print(alive)'),
      { text: 'Survived.' },
    )
    expect(run.status).toBe('completed')
    expect(calls.map((c) => c.code_interpreter.outputs[0].logs)).toEqual([expect.stringMatching(/MemoryError/), expect.stringMatching(/BlockingIOError|Resource temporarily unavailable/), 'yes\n'])
  })

  it('escape attempts fail: no server env, no network, no other files', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Escape' }] })
    const port = new URL(t.baseURL).port
    const { calls } = await runOn(
      thread.id,
      code(
        'import os, socket, glob\nprint(sorted(os.environ))\n' +
          'leaks = [p for p in glob.glob("/proc/*/environ") if b"sk-upstream" in open(p, "rb").read()]\nprint("leaks", leaks)\n' +
          `try:\n    socket.create_connection(("127.0.0.1", ${port}), timeout=2)\n    print("CONNECTED")\nexcept OSError as e:\n    print("no connection")\n` +
          'for p in ["/work", "/root", "/etc/passwd", "/var/lib/postgresql"]:\n    print(p, os.path.exists(p))\n' +
          'try:\n    open("/usr/x", "w")\nexcept OSError:\n    print("read-only")',
      ),
      { text: 'Contained.' },
    )
    const logs = calls[0].code_interpreter.outputs[0].logs as string
    expect(logs).not.toMatch(/sk-upstream|THREADLINE|CONNECTED|True/)
    expect(logs).toMatch(/leaks \[\]\nno connection\n\/work False\n\/root False\n\/etc\/passwd False\n\/var\/lib\/postgresql False\nread-only\n$/)
  })
})

describe.skipIf(skip)('code_interpreter time limit (bwrap)', () => {
  let t: TestContext
  beforeAll(async () => {
    t = await startTestServer({ codeSandbox: 'bwrap', codeTimeoutMs: 1000 })
  })
  afterAll(async () => t?.close())

  it('interrupts an endless loop with a logs output; the session still works after', async () => {
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'code_interpreter' }] })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Loop' }] })
    t.upstream.enqueue(code('n = 0\nwhile True:\n    n += 1'), code('print(n > 0)'), { text: 'It looped.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 50 })
    expect(run.status).toBe('completed')
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id, order: 'asc' })
    const calls = steps.data.flatMap((s) => (s.step_details.type === 'tool_calls' ? s.step_details.tool_calls : [])) as any[]
    expect(calls[0].code_interpreter.outputs[0].logs).toMatch(/Execution interrupted: the time limit of 1 s was reached/)
    expect(calls[1].code_interpreter.outputs).toEqual([{ type: 'logs', logs: 'True\n' }])
  })
})

describe('code_interpreter without a sandbox', () => {
  let t: TestContext
  beforeAll(async () => {
    t = await startTestServer({ codeSandbox: 'none' })
  })
  afterAll(async () => t?.close())

  it('answers the call with a logs output saying how to enable a backend; the run completes', async () => {
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'code_interpreter' }] })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Compute' }] })
    t.upstream.enqueue(code('print(1)'), { text: 'No sandbox here.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 50 })
    expect(run.status).toBe('completed')
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id })
    const call = steps.data.flatMap((s) => (s.step_details.type === 'tool_calls' ? s.step_details.tool_calls : []))[0] as any
    expect(call.code_interpreter.outputs[0].logs).toMatch(/disabled on this server \(THREADLINE_CODE_SANDBOX=none\)/)
  })
})

/** A stream-accumulated value without the `index` keys its array deltas carried. */
function withoutIndex(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIndex)
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'index').map(([k, v]) => [k, withoutIndex(v)]))
  return value
}
