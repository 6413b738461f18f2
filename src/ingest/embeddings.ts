import type { Config, ProviderConfig } from '../config.ts'

/** Inputs per `/embeddings` request. */
const BATCH = 64

export class EmbeddingError extends Error {}

/**
 * Embeddings from the configured provider's OpenAI-compatible `/embeddings`, or null when no
 * embedding model is configured (search is then lexical only). Vectors come back unit-length,
 * so a dot product is their cosine similarity.
 */
export class Embedder {
  constructor(
    private readonly provider: ProviderConfig,
    private readonly model: string,
    private readonly config: Config,
  ) {}

  static fromConfig(config: Config): Embedder | null {
    if (!config.embeddingModel) return null
    let model = config.embeddingModel
    // `provider/model` picks a provider by name, as chat models do.
    const slash = model.indexOf('/')
    let provider = config.providers.find((p) => p.name === config.defaultProvider) ?? config.providers[0]
    if (slash > 0) {
      const named = config.providers.find((p) => p.name === model.slice(0, slash))
      if (named) {
        provider = named
        model = model.slice(slash + 1)
      }
    }
    // Only OpenAI-compatible endpoints serve /embeddings; other kinds leave search lexical.
    const openAICompatible = !provider?.kind || provider.kind === 'openai-compatible' || provider.kind === 'ai-sdk-openai-compatible'
    return provider && openAICompatible ? new Embedder(provider, model, config) : null
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    const out: number[][] = []
    for (let i = 0; i < texts.length; i += BATCH) out.push(...(await this.embedBatch(texts.slice(i, i + BATCH), signal)))
    return out
  }

  private async embedBatch(input: string[], signal?: AbortSignal): Promise<number[][]> {
    let lastError: unknown
    for (let attempt = 0; attempt <= this.config.upstreamRetries; attempt++) {
      if (attempt > 0) await sleep(this.config.upstreamBackoffMs * 2 ** (attempt - 1), signal)
      try {
        return await this.request(input, signal)
      } catch (err) {
        if (signal?.aborted) throw err
        lastError = err
        if (err instanceof EmbeddingError && /^4\d\d/.test(err.message) && !/^429/.test(err.message)) break
      }
    }
    throw lastError
  }

  private async request(input: string[], signal?: AbortSignal): Promise<number[][]> {
    const timeout = AbortSignal.timeout(this.provider.timeoutMs ?? this.config.upstreamTimeoutMs)
    const res = await fetch(`${this.provider.baseURL.replace(/\/$/, '')}/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.provider.apiKey ? { authorization: `Bearer ${this.provider.apiKey}` } : {}) },
      body: JSON.stringify({ model: this.model, input }),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    })
    if (!res.ok) throw new EmbeddingError(`${res.status} from the embeddings endpoint: ${(await res.text()).slice(0, 200)}`)
    const body = (await res.json()) as { data?: { index: number; embedding: number[] }[] }
    if (!Array.isArray(body.data) || body.data.length !== input.length) throw new EmbeddingError('The embeddings endpoint returned a malformed response.')
    const vectors = new Array<number[]>(input.length)
    for (const d of body.data) vectors[d.index] = normalize(d.embedding)
    return vectors
  }
}

export function normalize(v: number[]): number[] {
  let sum = 0
  for (const x of v) sum += x * x
  const norm = Math.sqrt(sum) || 1
  return v.map((x) => x / norm)
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true })
  })
}
