import { crc32, deflateSync } from 'node:zlib'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { toFile } from 'openai'
import { startTestServer, type TestContext } from '../support/harness.ts'

/** A real 2×2 RGB PNG, made here (signature, IHDR, IDAT, IEND with their CRCs). */
function png(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const out = Buffer.alloc(body.length + 8)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc32(body), body.length + 4)
    return out
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(2, 0) // width
  header.writeUInt32BE(2, 4) // height
  header.set([8, 2, 0, 0, 0], 8) // 8-bit RGB, no interlace
  const rows = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255])
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))])
}

let t: TestContext
let assistantId: string
beforeAll(async () => {
  t = await startTestServer()
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o' })).id
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

/** The user message of the model call the run made. */
function upstreamUserContent() {
  const call = t.upstream.requests.find((r) => r.path.endsWith('/chat/completions'))!
  return call.body.messages.find((m: { role: string }) => m.role === 'user').content
}

describe('images in messages', () => {
  it('image_file parts reach the model as data URLs of the uploaded image, next to text and image_url parts', async () => {
    const image = png()
    const file = await t.client.files.create({ file: await toFile(image, 'dot.png'), purpose: 'vision' })
    const thread = await t.client.beta.threads.create({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these pictures?' },
            { type: 'image_file', image_file: { file_id: file.id, detail: 'low' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
          ],
        },
      ],
    })
    t.upstream.enqueue({ text: 'Dots and a cat.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run.status).toBe('completed')
    expect(upstreamUserContent()).toEqual([
      { type: 'text', text: 'What is in these pictures?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${image.toString('base64')}`, detail: 'low' } },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'auto' } },
    ])
    // The stored message keeps its own parts.
    const [message] = (await t.client.beta.threads.messages.list(thread.id, { order: 'asc' })).data
    expect(message.content.map((c) => c.type)).toEqual(['text', 'image_file', 'image_url'])
  })

  it('an image_file that is not an image is left out of the model call; the run still completes', async () => {
    const file = await t.client.files.create({ file: await toFile(Buffer.from('just text'), 'notes.txt'), purpose: 'vision' })
    const thread = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Look.' }, { type: 'image_file', image_file: { file_id: file.id } }] }],
    })
    t.upstream.enqueue({ text: 'I see no picture.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run.status).toBe('completed')
    expect(upstreamUserContent()).toBe('Look.')
  })
})
