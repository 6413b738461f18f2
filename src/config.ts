import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'

/**
 * How Threadline talks to a provider: `openai-compatible` (the default) speaks Chat Completions
 * directly; the others go through the Vercel AI SDK (`src/providers/ai-sdk.ts`).
 */
export const PROVIDER_KINDS = ['openai-compatible', 'ai-sdk-openai-compatible', 'anthropic', 'google'] as const
export type ProviderKind = (typeof PROVIDER_KINDS)[number]

/** Native APIs have a well-known endpoint; an OpenAI-compatible one must be named. */
const DEFAULT_BASE_URLS: Partial<Record<ProviderKind, string>> = {
  anthropic: 'https://api.anthropic.com/v1',
  google: 'https://generativelanguage.googleapis.com/v1beta',
}

/** One upstream LLM endpoint. */
const ProviderConfig = z
  .strictObject({
    name: z.string().min(1),
    kind: z.enum(PROVIDER_KINDS).optional(),
    baseURL: z.string().url().optional(),
    apiKey: z.string().optional(),
    /** Request timeout for one upstream call, in ms. */
    timeoutMs: z.number().int().positive().optional(),
  })
  .transform((provider, ctx) => {
    const baseURL = provider.baseURL ?? DEFAULT_BASE_URLS[provider.kind ?? 'openai-compatible']
    if (!baseURL) {
      ctx.addIssue({ code: 'custom', path: ['baseURL'], message: `provider "${provider.name}" needs a baseURL` })
      return z.NEVER
    }
    return { ...provider, baseURL }
  })

const ApiKeyConfig = z.strictObject({ key: z.string().min(8), project: z.string().min(1) })

/** The optional config file (threadline.config.json); env vars override it. */
const FileConfig = z.strictObject({
  host: z.string().optional(),
  port: z.number().int().min(0).max(65535).optional(),
  dataDir: z.string().optional(),
  databaseUrl: z.string().optional(),
  logLevel: z.string().optional(),
  maxBodyBytes: z.number().int().positive().optional(),
  apiKeys: z.array(ApiKeyConfig).optional(),
  providers: z.array(ProviderConfig).optional(),
  defaultProvider: z.string().optional(),
  runExpirySeconds: z.number().int().positive().optional(),
  upstreamRetries: z.number().int().min(0).max(10).optional(),
  maxFileBytes: z.number().int().positive().optional(),
  embeddingModel: z.string().optional(),
  codeSandbox: z.enum(['auto', 'bwrap', 'pyodide', 'none']).optional(),
  codeTimeoutMs: z.number().int().positive().optional(),
  codeIdleSeconds: z.number().int().positive().optional(),
  codeMaxSessions: z.number().int().positive().optional(),
  codeMemoryMb: z.number().int().positive().optional(),
})

export type ProviderConfig = z.infer<typeof ProviderConfig>
export type ApiKeyConfig = z.infer<typeof ApiKeyConfig>

export interface Config {
  host: string
  port: number
  /** Where the embedded database and uploaded files live. `null` = in memory (tests). */
  dataDir: string | null
  databaseUrl: string | null
  logLevel: string
  maxBodyBytes: number
  apiKeys: ApiKeyConfig[]
  providers: ProviderConfig[]
  defaultProvider: string | null
  /** A run not finished (or waiting for tool outputs) this long after creation expires. */
  runExpirySeconds: number
  /** Retries of an upstream call that failed before anything was streamed. */
  upstreamRetries: number
  /** Base backoff between upstream retries, ms. */
  upstreamBackoffMs: number
  upstreamTimeoutMs: number
  /** Cluster mode: how long a worker's claim on a run lasts without renewal. */
  leaseMs: number
  /** Cluster mode: runs one worker process executes at once. */
  workerConcurrency: number
  /** How long a finished run's events stay available for reconnects. */
  eventRetentionSeconds: number
  /** Largest accepted file upload (`POST /v1/files`), bytes. */
  maxFileBytes: number
  /** Embedding model on the default provider's `/embeddings`; null = lexical search only. */
  embeddingModel: string | null
  /** code_interpreter sandbox: 'auto' = bubblewrap when it works, Pyodide only in open loopback mode. */
  codeSandbox: 'auto' | 'bwrap' | 'pyodide' | 'none'
  /** Time limit of one code_interpreter execution (soft interrupt, then a hard kill). */
  codeTimeoutMs: number
  /** A thread's sandbox session unused this long is closed. */
  codeIdleSeconds: number
  /** Live sandbox sessions at most (least recently used evicted). */
  codeMaxSessions: number
  /** Memory per sandbox session. */
  codeMemoryMb: number
}

/** `THREADLINE_API_KEYS="sk-a=projA,sk-b=projB"`; a key without `=project` belongs to `default`. */
export function parseApiKeys(raw: string | undefined): ApiKeyConfig[] {
  if (!raw) return []
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const eq = entry.indexOf('=')
      return eq === -1
        ? { key: entry, project: 'default' }
        : { key: entry.slice(0, eq), project: entry.slice(eq + 1) }
    })
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const file = readConfigFile(env.THREADLINE_CONFIG)
  const providers = [...(file.providers ?? [])]
  if (env.THREADLINE_UPSTREAM_BASE_URL) {
    providers.unshift({
      name: 'upstream',
      baseURL: env.THREADLINE_UPSTREAM_BASE_URL,
      apiKey: env.THREADLINE_UPSTREAM_API_KEY,
    })
  }
  const config: Config = {
    host: env.THREADLINE_HOST ?? file.host ?? '127.0.0.1',
    port: numberEnv(env.THREADLINE_PORT) ?? file.port ?? 8080,
    dataDir: resolve(env.THREADLINE_DATA_DIR ?? file.dataDir ?? '.threadline'),
    databaseUrl: env.DATABASE_URL ?? file.databaseUrl ?? null,
    logLevel: env.THREADLINE_LOG_LEVEL ?? file.logLevel ?? 'info',
    maxBodyBytes: numberEnv(env.THREADLINE_MAX_BODY_BYTES) ?? file.maxBodyBytes ?? 32 * 1024 * 1024,
    apiKeys: [...(file.apiKeys ?? []), ...parseApiKeys(env.THREADLINE_API_KEYS)],
    providers,
    defaultProvider: env.THREADLINE_DEFAULT_PROVIDER ?? file.defaultProvider ?? providers[0]?.name ?? null,
    runExpirySeconds: numberEnv(env.THREADLINE_RUN_EXPIRY_SECONDS) ?? file.runExpirySeconds ?? 600,
    upstreamRetries: numberEnv(env.THREADLINE_UPSTREAM_RETRIES) ?? file.upstreamRetries ?? 2,
    upstreamBackoffMs: numberEnv(env.THREADLINE_UPSTREAM_BACKOFF_MS) ?? 250,
    upstreamTimeoutMs: numberEnv(env.THREADLINE_UPSTREAM_TIMEOUT_MS) ?? 120_000,
    leaseMs: numberEnv(env.THREADLINE_LEASE_MS) ?? 10_000,
    workerConcurrency: numberEnv(env.THREADLINE_WORKER_CONCURRENCY) ?? 64,
    eventRetentionSeconds: numberEnv(env.THREADLINE_EVENT_RETENTION_SECONDS) ?? 3600,
    maxFileBytes: numberEnv(env.THREADLINE_MAX_FILE_BYTES) ?? file.maxFileBytes ?? 512 * 1024 * 1024,
    embeddingModel: env.THREADLINE_EMBEDDING_MODEL ?? file.embeddingModel ?? null,
    codeSandbox: codeSandboxEnv(env.THREADLINE_CODE_SANDBOX) ?? file.codeSandbox ?? 'auto',
    codeTimeoutMs: numberEnv(env.THREADLINE_CODE_TIMEOUT_MS) ?? file.codeTimeoutMs ?? 60_000,
    codeIdleSeconds: numberEnv(env.THREADLINE_CODE_IDLE_SECONDS) ?? file.codeIdleSeconds ?? 3600,
    codeMaxSessions: numberEnv(env.THREADLINE_CODE_MAX_SESSIONS) ?? file.codeMaxSessions ?? 20,
    codeMemoryMb: numberEnv(env.THREADLINE_CODE_MEMORY_MB) ?? file.codeMemoryMb ?? 1024,
  }
  return { ...config, ...overrides }
}

function readConfigFile(path: string | undefined): z.infer<typeof FileConfig> {
  const file = path ?? 'threadline.config.json'
  if (!existsSync(file)) {
    if (path) throw new Error(`Config file not found: ${path}`)
    return {}
  }
  const parsed = FileConfig.safeParse(JSON.parse(readFileSync(file, 'utf8')))
  if (!parsed.success) throw new Error(`Invalid config file ${file}: ${parsed.error.message}`)
  return parsed.data
}

function codeSandboxEnv(value: string | undefined): Config['codeSandbox'] | undefined {
  if (value === undefined || value === '') return undefined
  if (value === 'auto' || value === 'bwrap' || value === 'pyodide' || value === 'none') return value
  throw new Error(`THREADLINE_CODE_SANDBOX must be auto, bwrap, pyodide or none, got ${value}`)
}

function numberEnv(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isFinite(n)) throw new Error(`Expected a number, got ${value}`)
  return n
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}
