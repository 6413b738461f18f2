import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'

let t: TestContext
let threadId: string
/** The 25 message ids, oldest first. */
let ids: string[]
beforeAll(async () => {
  t = await startTestServer()
  threadId = (await t.client.beta.threads.create()).id
  ids = []
  for (let i = 0; i < 25; i++) ids.push((await t.client.beta.threads.messages.create(threadId, { role: 'user', content: `m${i}` })).id)
})
afterAll(async () => t?.close())

interface Envelope {
  object: string
  data: { id: string }[]
  first_id: string | null
  last_id: string | null
  has_more: boolean
}

async function page(query: string, thread = threadId): Promise<Envelope & { ids: string[] }> {
  const res = await fetch(`${t.baseURL}/threads/${thread}/messages?${query}`, { headers: { authorization: `Bearer ${t.apiKey}` } })
  expect(res.status, await res.clone().text()).toBe(200)
  const body = (await res.json()) as Envelope
  expect(Object.keys(body).sort()).toEqual(['data', 'first_id', 'has_more', 'last_id', 'object'])
  expect(body.object).toBe('list')
  expect(body.first_id).toBe(body.data[0]?.id ?? null)
  expect(body.last_id).toBe(body.data.at(-1)?.id ?? null)
  return { ...body, ids: body.data.map((m) => m.id) }
}

const newestFirst = () => [...ids].reverse()

describe('message list pagination', () => {
  it('defaults to limit 20, newest first', async () => {
    const p = await page('')
    expect(p.ids).toEqual(newestFirst().slice(0, 20))
    expect(p.has_more).toBe(true)
  })

  it('walks 25 messages in pages of 10 with after, order desc', async () => {
    const p1 = await page('limit=10')
    expect(p1.ids).toEqual(newestFirst().slice(0, 10))
    expect(p1.has_more).toBe(true)
    const p2 = await page(`limit=10&after=${p1.last_id}`)
    expect(p2.ids).toEqual(newestFirst().slice(10, 20))
    expect(p2.has_more).toBe(true)
    const p3 = await page(`limit=10&after=${p2.last_id}`)
    expect(p3.ids).toEqual(newestFirst().slice(20, 25))
    expect(p3.has_more).toBe(false)
    const p4 = await page(`limit=10&after=${p3.last_id}`)
    expect(p4).toMatchObject({ ids: [], first_id: null, last_id: null, has_more: false })
  })

  it('walks 25 messages in pages of 10 with after, order asc', async () => {
    const p1 = await page('limit=10&order=asc')
    expect(p1.ids).toEqual(ids.slice(0, 10))
    expect(p1.has_more).toBe(true)
    const p2 = await page(`limit=10&order=asc&after=${p1.last_id}`)
    expect(p2.ids).toEqual(ids.slice(10, 20))
    const p3 = await page(`limit=10&order=asc&after=${p2.last_id}`)
    expect(p3.ids).toEqual(ids.slice(20))
    expect(p3.has_more).toBe(false)
  })

  it('walks back with before: the page right next to the cursor, in list order', async () => {
    // desc: items before ids[5] in the list are the newer ones ids[6..]
    const d = await page(`limit=10&before=${ids[5]}`)
    expect(d.ids).toEqual(newestFirst().slice(9, 19))
    expect(d.has_more).toBe(true)
    const d2 = await page(`limit=10&before=${d.first_id}`)
    expect(d2.ids).toEqual(newestFirst().slice(0, 9))
    expect(d2.has_more).toBe(false)

    const a = await page(`limit=10&order=asc&before=${ids[20]}`)
    expect(a.ids).toEqual(ids.slice(10, 20))
    expect(a.has_more).toBe(true)
    const a2 = await page(`limit=10&order=asc&before=${a.first_id}`)
    expect(a2.ids).toEqual(ids.slice(0, 10))
    expect(a2.has_more).toBe(false)
  })

  it('after and before together bound a window', async () => {
    const w = await page(`order=asc&after=${ids[3]}&before=${ids[9]}`)
    expect(w.ids).toEqual(ids.slice(4, 9))
    expect(w.has_more).toBe(false)
    const narrow = await page(`order=asc&limit=2&after=${ids[3]}&before=${ids[9]}`)
    expect(narrow.ids).toEqual(ids.slice(4, 6))
    expect(narrow.has_more).toBe(true)
    const desc = await page(`after=${ids[9]}&before=${ids[3]}`)
    expect(desc.ids).toEqual(ids.slice(4, 9).reverse())
  })

  it('limit 1 and 100 are the bounds', async () => {
    expect((await page('limit=1')).ids).toEqual([ids[24]])
    const all = await page('limit=100&order=asc')
    expect(all.ids).toEqual(ids)
    expect(all.has_more).toBe(false)
  })

  it('pages are stable while messages are inserted between requests', async () => {
    const thread = (await t.client.beta.threads.create()).id
    const mine: string[] = []
    for (let i = 0; i < 12; i++) mine.push((await t.client.beta.threads.messages.create(thread, { role: 'user', content: `s${i}` })).id)
    const seen: string[] = []
    const inserted: string[] = []
    let p = await page('limit=5', thread)
    seen.push(...p.ids)
    while (p.has_more) {
      // New messages land at the head of a desc list: already-read pages do not shift.
      inserted.push((await t.client.beta.threads.messages.create(thread, { role: 'user', content: 'late' })).id)
      p = await page(`limit=5&after=${p.last_id}`, thread)
      seen.push(...p.ids)
    }
    expect(seen).toEqual([...mine].reverse())
    expect(new Set(seen).size).toBe(seen.length)

    // In ascending order the inserts show up at the end, each exactly once.
    const asc: string[] = []
    let q = await page('limit=5&order=asc', thread)
    asc.push(...q.ids)
    while (q.has_more) {
      inserted.push((await t.client.beta.threads.messages.create(thread, { role: 'user', content: 'later' })).id)
      q = await page(`limit=5&order=asc&after=${q.last_id}`, thread)
      asc.push(...q.ids)
    }
    expect(asc.slice(0, 12)).toEqual(mine)
    expect(asc.slice(12)).toEqual(inserted.slice(0, asc.length - 12))
    expect(new Set(asc).size).toBe(asc.length)
  })

  it('a deleted cursor object is rejected, not silently restarted', async () => {
    const thread = (await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] })).id
    const p = await page('limit=1', thread)
    await t.client.beta.threads.messages.delete(p.last_id!, { thread_id: thread })
    const res = await fetch(`${t.baseURL}/threads/${thread}/messages?after=${p.last_id}`, { headers: { authorization: `Bearer ${t.apiKey}` } })
    expect(res.status).toBe(400)
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', param: 'after', code: 'invalid_value' })
  })
})

describe('SDK auto-pagination', () => {
  it('for await walks every message across pages, both orders', async () => {
    const desc: string[] = []
    for await (const m of t.client.beta.threads.messages.list(threadId, { limit: 7 })) desc.push(m.id)
    expect(desc).toEqual(newestFirst())
    const asc: string[] = []
    for await (const m of t.client.beta.threads.messages.list(threadId, { limit: 4, order: 'asc' })) asc.push(m.id)
    expect(asc).toEqual(ids)
  })

  it('page objects report has_more and fetch the next page', async () => {
    const first = await t.client.beta.threads.messages.list(threadId, { limit: 10 })
    expect(first.data.map((m) => m.id)).toEqual(newestFirst().slice(0, 10))
    expect(first.hasNextPage()).toBe(true)
    const second = await first.getNextPage()
    expect(second.data.map((m) => m.id)).toEqual(newestFirst().slice(10, 20))
    const third = await second.getNextPage()
    expect(third.data.map((m) => m.id)).toEqual(newestFirst().slice(20))
    expect(third.hasNextPage()).toBe(false)
  })

  it('assistants paginate the same way', async () => {
    const fresh = await startTestServer()
    try {
      const created: string[] = []
      for (let i = 0; i < 13; i++) created.push((await fresh.client.beta.assistants.create({ model: 'gpt-4o', name: `a${i}` })).id)
      const seen: string[] = []
      for await (const a of fresh.client.beta.assistants.list({ limit: 5 })) seen.push(a.id)
      expect(seen).toEqual([...created].reverse())
      const asc: string[] = []
      for await (const a of fresh.client.beta.assistants.list({ limit: 6, order: 'asc' })) asc.push(a.id)
      expect(asc).toEqual(created)
      const before = await fresh.client.beta.assistants.list({ limit: 3, order: 'asc', before: created[5] })
      expect(before.data.map((a) => a.id)).toEqual(created.slice(2, 5))
    } finally {
      await fresh.close()
    }
  })
})
