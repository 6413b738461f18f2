/** Request bodies of the vector store endpoints (field names and limits from OpenAI's spec). */
import { z } from 'zod'
import { ChunkingStrategy, Metadata } from './schemas.ts'
import type { CustomIssueParams } from './validation.ts'

export const ExpiresAfter = z.strictObject({ anchor: z.literal('last_active_at'), days: z.number().int().min(1).max(365) })

const ATTRIBUTES_MAX_KEYS = 16
const ATTRIBUTE_KEY_MAX_LENGTH = 64

/** ≤16 pairs, keys ≤64 chars, values strings (≤512 chars), numbers or booleans; errors worded as for metadata. */
export const Attributes = z
  .record(z.string(), z.union([z.string().max(512), z.number(), z.boolean()]))
  .superRefine((value, ctx) => {
    const keys = Object.keys(value)
    if (keys.length > ATTRIBUTES_MAX_KEYS) {
      const params: CustomIssueParams = { kind: 'too_many_properties', max: ATTRIBUTES_MAX_KEYS, actual: keys.length }
      ctx.addIssue({ code: 'custom', message: 'too many properties', params })
      return
    }
    const long = keys.find((k) => k.length > ATTRIBUTE_KEY_MAX_LENGTH)
    if (long !== undefined) {
      const params: CustomIssueParams = { kind: 'property_name_too_long', max: ATTRIBUTE_KEY_MAX_LENGTH, actual: long.length, key: long }
      ctx.addIssue({ code: 'custom', path: [long], message: 'property name too long', params })
    }
  })
  .nullable()

export const CreateVectorStore = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
  file_ids: z.array(z.string()).max(500).optional(),
  chunking_strategy: ChunkingStrategy.optional(),
  expires_after: ExpiresAfter.optional(),
  metadata: Metadata.optional(),
})

export const ModifyVectorStore = z.strictObject({
  name: z.string().nullable().optional(),
  expires_after: ExpiresAfter.nullable().optional(),
  metadata: Metadata.optional(),
})

export const CreateVectorStoreFile = z.strictObject({
  file_id: z.string().min(1),
  chunking_strategy: ChunkingStrategy.optional(),
  attributes: Attributes.optional(),
})

export const UpdateVectorStoreFile = z.strictObject({ attributes: Attributes })

export const CreateFileBatch = z
  .strictObject({
    // At most 2000 files per batch (spec: maxItems 2000).
    file_ids: z.array(z.string()).min(1).max(2000).optional(),
    files: z
      .array(z.strictObject({ file_id: z.string().min(1), chunking_strategy: ChunkingStrategy.optional(), attributes: Attributes.optional() }))
      .min(1)
      .max(2000)
      .optional(),
    chunking_strategy: ChunkingStrategy.optional(),
    attributes: Attributes.optional(),
  })
  .refine((b) => (b.file_ids === undefined) !== (b.files === undefined), {
    message: "Exactly one of 'file_ids' or 'files' must be provided.",
    path: ['file_ids'],
  })

const ComparisonFilter = z.strictObject({
  key: z.string(),
  type: z.enum(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin']),
  value: z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))]),
})

type FilterShape = z.infer<typeof ComparisonFilter> | { type: 'and' | 'or'; filters: FilterShape[] }

const CompoundFilter = z.strictObject({
  type: z.enum(['and', 'or']),
  filters: z.array(z.lazy((): z.ZodType<FilterShape> => Filter)).min(1),
})

/** Told apart by `type` (as the spec's discriminator), so an error points into the right variant. */
export const Filter: z.ZodType<FilterShape> = z.discriminatedUnion('type', [ComparisonFilter, CompoundFilter])

export const RankingOptions = z.strictObject({
  ranker: z.enum(['none', 'auto', 'default-2024-11-15']).optional(),
  score_threshold: z.number().min(0).max(1).optional(),
})

export const SearchVectorStore = z.strictObject({
  query: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  filters: Filter.nullable().optional(),
  max_num_results: z.number().int().min(1).max(50).optional(),
  ranking_options: RankingOptions.optional(),
  rewrite_query: z.boolean().optional(),
})

export const FileStatusFilter = z.enum(['in_progress', 'completed', 'failed', 'cancelled'])
