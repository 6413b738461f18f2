/**
 * The scripted fake upstream as its own process, so a benchmark's client and its upstream do not
 * share one event loop (a burst written by the upstream would otherwise stall the client's reads).
 * Reads `{ "script": … }` lines on stdin to change the default script; prints its URL.
 */
import { createInterface } from 'node:readline'
import { FakeUpstream } from '../test/support/fake-upstream.ts'

const upstream = await new FakeUpstream().start()
upstream.defaultScript = JSON.parse(process.env.FAKE_UPSTREAM_SCRIPT ?? '{"text":"hello"}')
process.stdout.write(`${upstream.url}\n`)
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue
  upstream.defaultScript = JSON.parse(line).script
  upstream.reset()
  process.stdout.write('ok\n')
}
await upstream.stop()
