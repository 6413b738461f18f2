import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toFile } from 'openai'
import { startTestServer, TEST_KEYS, type TestContext } from '../support/harness.ts'
import { fileStorage } from '../../src/files/storage.ts'

let t: TestContext
beforeAll(async () => {
  t = await startTestServer({ maxFileBytes: 64 * 1024 })
})
afterAll(() => t?.close())

describe('files', () => {
  it('uploads, retrieves, lists, downloads and deletes a file through the SDK', async () => {
    const text = 'Threadline stores uploads on disk.\n'.repeat(10)
    const file = await t.client.files.create({ file: await toFile(Buffer.from(text), 'notes.txt'), purpose: 'assistants' })
    expect(file).toMatchObject({ object: 'file', filename: 'notes.txt', purpose: 'assistants', bytes: Buffer.byteLength(text), status: 'processed' })
    expect(file.id).toMatch(/^file-/)
    expect(await t.client.files.retrieve(file.id)).toEqual(file)

    const content = await t.client.files.content(file.id)
    expect(await content.text()).toBe(text)

    const vision = await t.client.files.create({ file: await toFile(Buffer.from([0x89, 0x50, 0x4e, 0x47]), 'x.png'), purpose: 'vision' })
    const all = await t.client.files.list()
    expect(all.data.map((f) => f.id)).toEqual([vision.id, file.id])
    const onlyVision = await t.client.files.list({ purpose: 'vision' })
    expect(onlyVision.data.map((f) => f.id)).toEqual([vision.id])
    // A cursor is a place in the list whatever the filter: here a file of another purpose.
    const afterOther = await t.client.files.list({ purpose: 'vision', order: 'asc', after: file.id })
    expect(afterOther.data.map((f) => f.id)).toEqual([vision.id])

    expect(await t.client.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true })
    await expect(t.client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 })
    await expect(t.client.files.content(file.id)).rejects.toMatchObject({ status: 404 })
  })

  it('answers 404 for a file whose stored bytes are gone (a damaged data dir), and keeps serving', async () => {
    const file = await t.client.files.create({ file: await toFile(Buffer.from('soon gone'), 'gone.txt'), purpose: 'assistants' })
    const row = await t.server.services.db.selectFrom('files').select('storage_key').where('id', '=', file.id).executeTakeFirstOrThrow()
    rmSync((await fileStorage(t.server.services.config)).pathOf(row.storage_key))
    await expect(t.client.files.content(file.id)).rejects.toMatchObject({ status: 404, error: { message: `No such File object: ${file.id}` } })
    expect((await t.client.files.retrieve(file.id)).id).toBe(file.id)
  })

  it('is scoped to the key project', async () => {
    const file = await t.client.files.create({ file: await toFile(Buffer.from('secret'), 's.txt'), purpose: 'assistants' })
    const other = t.clientFor(TEST_KEYS.b)
    await expect(other.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 })
    expect((await other.files.list()).data.map((f) => f.id)).not.toContain(file.id)
  })

  it('refuses files over the configured limit with 413, and bad purposes with 400', async () => {
    const big = Buffer.alloc(64 * 1024 + 1, 'a')
    const err = await t.client.files.create({ file: await toFile(big, 'big.txt'), purpose: 'assistants' }).catch((e) => e)
    expect(err.status).toBe(413)
    expect(err.error).toMatchObject({ type: 'invalid_request_error', code: 'file_too_large' })

    const bad = await t.client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'nope' as never }).catch((e) => e)
    expect(bad.status).toBe(400)
    expect(bad.error.param).toBe('purpose')
    // Nothing was kept of refused uploads.
    expect((await t.client.files.list()).data.map((f) => f.filename)).not.toContain('big.txt')
  })

  it('answers a missing file part or a non-multipart body with 400', async () => {
    const form = new FormData()
    form.set('purpose', 'assistants')
    const res = await fetch(`${t.baseURL}/files`, { method: 'POST', headers: { authorization: `Bearer ${t.apiKey}` }, body: form })
    expect(res.status).toBe(400)
    expect((await res.json()).error.param).toBe('file')
    const json = await fetch(`${t.baseURL}/files`, { method: 'POST', headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' }, body: '{}' })
    expect(json.status).toBe(400)
  })
})
