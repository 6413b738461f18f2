/**
 * Files and Vector Stores: mismatches with OpenAI's API found by an audit against the spec and the
 * official SDK, each driven through the SDK against the real server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toFile } from 'openai'
import { startTestServer, type TestContext } from '../support/harness.ts'

let t: TestContext
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(() => t?.close())

const poll = { pollIntervalMs: 20 }

describe('files', () => {
  it('keeps a non-ASCII filename as sent (the SDK sends it as UTF-8), everywhere it is reported', async () => {
    const names = ['résumé.txt', '日本語のメモ.md', 'Ωmega – notes.txt']
    for (const name of names) {
      const file = await t.client.files.create({ file: await toFile(Buffer.from(`Contents of ${name}: zebra stripes.`), name), purpose: 'assistants' })
      expect(file.filename).toBe(name)
      expect((await t.client.files.retrieve(file.id)).filename).toBe(name)
      expect((await t.client.files.list()).data.find((f) => f.id === file.id)?.filename).toBe(name)
    }
    // Search results name the file the same way.
    const store = await t.client.vectorStores.create({ name: 'unicode names' })
    const vsFile = await t.client.vectorStores.files.uploadAndPoll(store.id, await toFile(Buffer.from('Okapis have striped legs.'), 'okapi – ñandú.txt'), poll)
    expect(vsFile.status).toBe('completed')
    const hits = await t.client.vectorStores.search(store.id, { query: 'okapis striped legs' })
    expect(hits.data[0].filename).toBe('okapi – ñandú.txt')
  })
})

describe('vector stores created by helpers', () => {
  it("a thread's tool_resources helper store expires 7 days after last activity (OpenAI's default); an assistant's does not", async () => {
    const file = await t.client.files.create({ file: await toFile(Buffer.from('Capybaras are the largest rodents.'), 'capy.txt'), purpose: 'assistants' })
    const helper = { file_search: { vector_stores: [{ file_ids: [file.id] }] } }

    const thread = await t.client.beta.threads.create({ tool_resources: helper })
    const threadStore = await t.client.vectorStores.retrieve(thread.tool_resources!.file_search!.vector_store_ids![0])
    expect(threadStore.expires_after).toEqual({ anchor: 'last_active_at', days: 7 })
    expect(threadStore.expires_at).toBe(threadStore.last_active_at! + 7 * 86400)

    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }], tool_resources: helper })
    const assistantStore = await t.client.vectorStores.retrieve(assistant.tool_resources!.file_search!.vector_store_ids![0])
    expect(assistantStore.expires_after).toBeUndefined()
    expect(assistantStore.expires_at).toBeNull()

    // The policy is the store's own: it can be changed or removed like any other.
    const kept = await t.client.vectorStores.update(threadStore.id, { expires_after: null })
    expect(kept.expires_at).toBeNull()
  })
})
