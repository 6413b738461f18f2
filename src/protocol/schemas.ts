/**
 * Request bodies, as zod schemas: the one source of truth for what each endpoint accepts and for
 * the TypeScript types of validated input. Field names and limits follow OpenAI's spec
 * (see spec/assistants-v2.openapi.yaml).
 */
import { z } from 'zod'

const METADATA_MAX_KEYS = 16
const METADATA_MAX_KEY_LENGTH = 64

/** ≤16 pairs, keys ≤64 chars, string values ≤512 chars (limits from the spec's description). */
export const Metadata = z
  .record(z.string(), z.string().max(512))
  .superRefine((value, ctx) => {
    const keys = Object.keys(value)
    if (keys.length > METADATA_MAX_KEYS) {
      ctx.addIssue({ code: 'custom', message: 'too many properties', params: { kind: 'too_many_properties', max: METADATA_MAX_KEYS, actual: keys.length } })
      return
    }
    const long = keys.find((k) => k.length > METADATA_MAX_KEY_LENGTH)
    if (long !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [long],
        message: 'property name too long',
        params: { kind: 'property_name_too_long', max: METADATA_MAX_KEY_LENGTH, actual: long.length, key: long },
      })
    }
  })
  .nullable()

/** Function and json_schema names: "a-z, A-Z, 0-9, underscores and dashes, at most 64" (the spec's prose). */
const NamePattern = z.string().max(64).regex(/^[a-zA-Z0-9_-]+$/)

const FunctionDefinition = z.strictObject({
  name: NamePattern,
  description: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  strict: z.boolean().nullable().optional(),
})

const RankingOptions = z.strictObject({
  ranker: z.enum(['auto', 'default_2024_08_21']).optional(),
  score_threshold: z.number().min(0).max(1),
})

export const Tool = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('code_interpreter') }),
  z.strictObject({
    type: z.literal('file_search'),
    file_search: z
      .strictObject({
        max_num_results: z.number().int().min(1).max(50).optional(),
        ranking_options: RankingOptions.optional(),
      })
      .optional(),
  }),
  z.strictObject({ type: z.literal('function'), function: FunctionDefinition }),
])
export type Tool = z.infer<typeof Tool>

export const Tools = z.array(Tool).max(128)
/** A run may override the assistant's tools with at most 20 (CreateRunRequest.tools.maxItems). */
const RunTools = z.array(Tool).max(20)

/** Both variants are closed (`additionalProperties: false` in the spec). */
export const ChunkingStrategy = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auto') }),
  z.strictObject({
    type: z.literal('static'),
    static: z
      .strictObject({
        max_chunk_size_tokens: z.number().int().min(100).max(4096),
        chunk_overlap_tokens: z.number().int().min(0),
      })
      .refine((s) => s.chunk_overlap_tokens <= s.max_chunk_size_tokens / 2, {
        message: 'chunk_overlap_tokens must not exceed half of max_chunk_size_tokens',
        path: ['chunk_overlap_tokens'],
      }),
  }),
])

export const ToolResources = z
  .strictObject({
    code_interpreter: z.strictObject({ file_ids: z.array(z.string()).max(20).optional() }).optional(),
    file_search: z
      .strictObject({
        vector_store_ids: z.array(z.string()).max(1).optional(),
        vector_stores: z
          .array(
            z.strictObject({
              file_ids: z.array(z.string()).max(10000).optional(),
              chunking_strategy: ChunkingStrategy.optional(),
              metadata: Metadata.optional(),
            }),
          )
          .max(1)
          .optional(),
      })
      // The spec's `oneOf`: stores are named, or created by the helper, not both.
      .refine((fs) => fs.vector_store_ids === undefined || fs.vector_stores === undefined, {
        message: "only one of 'vector_store_ids' or 'vector_stores' may be provided.",
      })
      .optional(),
  })
  .nullable()
export type ToolResources = z.infer<typeof ToolResources>

export const ResponseFormat = z.union([
  z.literal('auto'),
  z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: NamePattern,
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
  ]),
])
export type ResponseFormat = z.infer<typeof ResponseFormat>

export const ReasoningEffort = z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']).nullable()

const Temperature = z.number().min(0).max(2).nullable()
const TopP = z.number().min(0).max(1).nullable()

export const CreateAssistant = z.strictObject({
  model: z.string().min(1),
  name: z.string().max(256).nullable().optional(),
  description: z.string().max(512).nullable().optional(),
  instructions: z.string().max(256_000).nullable().optional(),
  tools: Tools.optional(),
  tool_resources: ToolResources.optional(),
  metadata: Metadata.optional(),
  temperature: Temperature.optional(),
  top_p: TopP.optional(),
  response_format: ResponseFormat.nullable().optional(),
  reasoning_effort: ReasoningEffort.optional(),
})
export type CreateAssistant = z.infer<typeof CreateAssistant>

/**
 * Resources that name existing stores and files only: what modify (assistant, thread) and
 * createAndRun's top-level `tool_resources` take. The spec gives them no `vector_stores` helper, so
 * it is an unknown parameter there.
 */
const NamedToolResources = z
  .strictObject({
    code_interpreter: z.strictObject({ file_ids: z.array(z.string()).max(20).optional() }).optional(),
    file_search: z.strictObject({ vector_store_ids: z.array(z.string()).max(1).optional() }).optional(),
  })
  .nullable()

export const ModifyAssistant = CreateAssistant.extend({ tool_resources: NamedToolResources.optional() }).partial()
export type ModifyAssistant = z.infer<typeof ModifyAssistant>

const ImageDetail = z.enum(['auto', 'low', 'high'])

export const MessageContentPart = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text: z.string() }),
  z.strictObject({
    type: z.literal('image_file'),
    image_file: z.strictObject({ file_id: z.string(), detail: ImageDetail.optional() }),
  }),
  z.strictObject({
    type: z.literal('image_url'),
    image_url: z.strictObject({ url: z.string().url(), detail: ImageDetail.optional() }),
  }),
])

export const Attachment = z.strictObject({
  file_id: z.string(),
  tools: z
    .array(z.discriminatedUnion('type', [z.strictObject({ type: z.literal('code_interpreter') }), z.strictObject({ type: z.literal('file_search') })]))
    .optional(),
})
export type Attachment = z.infer<typeof Attachment>

export const CreateMessage = z.strictObject({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string(), z.array(MessageContentPart).min(1)]),
  attachments: z.array(Attachment).nullable().optional(),
  metadata: Metadata.optional(),
})
export type CreateMessage = z.infer<typeof CreateMessage>

export const ModifyMessage = z.strictObject({ metadata: Metadata.optional() })

export const CreateThread = z.strictObject({
  messages: z.array(CreateMessage).max(32).optional(),
  tool_resources: ToolResources.optional(),
  metadata: Metadata.optional(),
})
export type CreateThread = z.infer<typeof CreateThread>

export const ModifyThread = z.strictObject({
  tool_resources: NamedToolResources.optional(),
  metadata: Metadata.optional(),
})

/** Stored and echoed whole, as OpenAI's run object shows it: `last_messages` is null when not given. */
export const TruncationStrategy = z
  .strictObject({
    type: z.enum(['auto', 'last_messages']),
    last_messages: z.number().int().min(1).nullable().optional(),
  })
  .transform(({ type, last_messages }) => ({ type, last_messages: last_messages ?? null }))
export type TruncationStrategy = z.input<typeof TruncationStrategy>

export const ToolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
  z.object({ type: z.enum(['file_search', 'code_interpreter']) }),
])
export type ToolChoice = z.infer<typeof ToolChoice>

/** Run settings shared by "create run" and "create thread and run". */
const RunSettings = {
  assistant_id: z.string().min(1),
  model: z.string().nullable().optional(),
  instructions: z.string().max(256_000).nullable().optional(),
  tools: RunTools.nullable().optional(),
  metadata: Metadata.optional(),
  temperature: Temperature.optional(),
  top_p: TopP.optional(),
  stream: z.boolean().nullable().optional(),
  max_prompt_tokens: z.number().int().min(256).nullable().optional(),
  max_completion_tokens: z.number().int().min(256).nullable().optional(),
  truncation_strategy: TruncationStrategy.nullable().optional(),
  tool_choice: ToolChoice.nullable().optional(),
  parallel_tool_calls: z.boolean().optional(),
  response_format: ResponseFormat.nullable().optional(),
  reasoning_effort: ReasoningEffort.optional(),
}

export const CreateRun = z.strictObject({
  ...RunSettings,
  additional_instructions: z.string().nullable().optional(),
  additional_messages: z.array(CreateMessage).nullable().optional(),
})
export type CreateRun = z.infer<typeof CreateRun>

/**
 * createAndRun's top-level `tool_resources`: the assistant's resources for this run. Unlike the
 * created assistant's and thread's, the spec gives it no `vector_stores` helper.
 */
export const RunToolResources = NamedToolResources
export type RunToolResources = z.infer<typeof RunToolResources>

export const CreateThreadAndRun = z.strictObject({
  ...RunSettings,
  thread: CreateThread.optional(),
  tool_resources: RunToolResources.optional(),
})
export type CreateThreadAndRun = z.infer<typeof CreateThreadAndRun>

export const ModifyRun = z.strictObject({ metadata: Metadata.optional() })

export const SubmitToolOutputs = z.strictObject({
  tool_outputs: z.array(z.strictObject({ tool_call_id: z.string().optional(), output: z.string().optional() })),
  stream: z.boolean().nullable().optional(),
})
export type SubmitToolOutputs = z.infer<typeof SubmitToolOutputs>
