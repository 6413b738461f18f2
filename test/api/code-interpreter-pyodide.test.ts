import { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'

/** code_interpreter on the Pyodide backend (configured explicitly): standard library only. */
const code = (src: string) => ({ toolCalls: [{ name: 'code_interpreter', arguments: JSON.stringify({ code: src }) }] })

describe('code_interpreter (pyodide)', () => {
  let t: TestContext
  let assistantId: string

  beforeAll(async () => {
    t = await startTestServer({ codeSandbox: 'pyodide', codeTimeoutMs: 20_000 })
    assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'code_interpreter' }] })).id
  })
  afterAll(async () => t?.close())

  async function runOn(threadId: string, ...scripts: Parameters<TestContext['upstream']['enqueue']>) {
    t.upstream.enqueue(...scripts)
    const run = await t.client.beta.threads.runs.createAndPoll(threadId, { assistant_id: assistantId }, { pollIntervalMs: 50 })
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: threadId, order: 'asc' })
    return { run, calls: steps.data.flatMap((s) => (s.step_details.type === 'tool_calls' ? s.step_details.tool_calls : [])) as any[] }
  }

  it('computes, keeps state across runs, reads an input file and writes an output file', async () => {
    const csv = await t.client.files.create({ file: await toFile(Buffer.from('n\n1\n2\n3\n'), 'numbers.csv'), purpose: 'assistants' })
    const thread = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: 'Sum these', attachments: [{ file_id: csv.id, tools: [{ type: 'code_interpreter' }] }] }],
      tool_resources: {},
    })
    const first = await runOn(thread.id, code('print(6*7)\nimport csv\ntotal = sum(int(r["n"]) for r in csv.DictReader(open("/mnt/data/numbers.csv")))'), { text: 'Read.' })
    expect(first.run.status).toBe('completed')
    expect(first.calls[0].code_interpreter.outputs).toEqual([{ type: 'logs', logs: '42\n' }])

    await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'Write it out' })
    const second = await runOn(thread.id, code('open("/mnt/data/total.txt", "w").write(str(total))\ntotal'), { text: 'See sandbox:/mnt/data/total.txt' })
    expect(second.calls[0].code_interpreter.outputs).toEqual([{ type: 'logs', logs: '6\n' }])
    const [message] = (await t.client.beta.threads.messages.list(thread.id, { limit: 1 })).data
    const annotation = (message!.content[0] as any).text.annotations[0]
    expect(annotation).toMatchObject({ type: 'file_path', text: 'sandbox:/mnt/data/total.txt', start_index: 4, end_index: 31 })
    expect(await (await t.client.files.content(annotation.file_path.file_id)).text()).toBe('6')
  }, 60_000)

  it('does not show the server environment to the code', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'env' }] })
    const { calls } = await runOn(thread.id, code('import os, js\nprint(dict(os.environ))\nprint(js.JSON.stringify(js.process.env))'), { text: 'ok' })
    expect(calls[0].code_interpreter.outputs[0].logs).not.toMatch(/sk-upstream|THREADLINE/)
  }, 60_000)
})
