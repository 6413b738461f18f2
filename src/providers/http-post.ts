import http from 'node:http'
import https from 'node:https'

/** Connections to upstreams are kept open between calls: a new one per run costs a round trip. */
const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
}

export interface UpstreamResponse {
  status: number
  contentType: string
  /** The body as text, chunk by chunk as it arrives. */
  chunks: AsyncIterable<string>
  text(): Promise<string>
}

/**
 * POST a JSON body with Node's own HTTP client. On the path of every streamed run `fetch` costs
 * more: building WHATWG Request/Response objects and web streams takes about half a millisecond
 * before the request is even written, and a stream read per network chunk.
 */
export function postJson(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const client = target.protocol === 'https:' ? https : http
    const agent = agents[target.protocol as keyof typeof agents]
    if (!agent) return reject(new Error(`Unsupported protocol in upstream URL: ${target.protocol}`))
    const request = client.request(
      target,
      { method: 'POST', agent, signal, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (response) => {
        response.setEncoding('utf8')
        resolve({
          status: response.statusCode ?? 0,
          contentType: String(response.headers['content-type'] ?? ''),
          chunks: response,
          async text() {
            let text = ''
            for await (const chunk of response) text += chunk
            return text
          },
        })
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}
