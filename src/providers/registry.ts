import type { Config, ProviderConfig } from '../config.ts'
import { createLogger } from '../log.ts'
import { OpenAICompatibleProvider } from './openai-compatible.ts'
import { ProviderError, type ChatRequest, type Provider, type StreamPart } from './types.ts'

/**
 * Routes a model name to a provider: `name/model` picks the provider called `name` (the prefix
 * is stripped), anything else goes to the default provider.
 */
export class ProviderRegistry {
  private readonly providers = new Map<string, Provider>()

  constructor(private readonly config: Config) {
    for (const p of config.providers) this.providers.set(p.name, createProvider(p, p.timeoutMs ?? config.upstreamTimeoutMs, config.logLevel))
  }

  resolve(model: string): { provider: Provider; model: string } {
    const slash = model.indexOf('/')
    if (slash > 0) {
      const named = this.providers.get(model.slice(0, slash))
      if (named) return { provider: named, model: model.slice(slash + 1) }
    }
    const fallback = this.config.defaultProvider ? this.providers.get(this.config.defaultProvider) : undefined
    if (!fallback) {
      throw new ProviderError(
        'not_configured',
        'No upstream LLM provider is configured. Set THREADLINE_UPSTREAM_BASE_URL (and THREADLINE_UPSTREAM_API_KEY) or add providers to threadline.config.json.',
      )
    }
    return { provider: fallback, model }
  }
}

/** The direct Chat Completions client unless the config asks for the AI SDK (`kind`). */
function createProvider(config: ProviderConfig, idleTimeoutMs: number, logLevel: string): Provider {
  const kind = config.kind ?? 'openai-compatible'
  if (kind === 'openai-compatible') return new OpenAICompatibleProvider(config, idleTimeoutMs)
  return new LazyProvider(config.name, async () => new (await import('./ai-sdk.ts')).AiSdkProvider({ ...config, kind }, idleTimeoutMs, createLogger(logLevel)))
}

/** Loads the AI SDK on first use, so servers that never call it do not pay its start-up time and memory. */
class LazyProvider implements Provider {
  private loaded: Promise<Provider> | null = null

  constructor(
    readonly name: string,
    private readonly load: () => Promise<Provider>,
  ) {}

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<StreamPart> {
    this.loaded ??= this.load()
    yield* (await this.loaded).stream(request, signal)
  }
}
