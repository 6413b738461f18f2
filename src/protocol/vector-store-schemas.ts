/** Request bodies of the vector store endpoints (field names and limits from OpenAI's spec). */
import { z } from 'zod'
import { ChunkingStrategy, Metadata } from './schemas.ts'

export const ExpiresAfter = z.strictObject({ anchor: z.literal('last_active_at'), days: z.number().int().min(1).max(365) })

export const Attributes = z
  .record(z.string().max(64), z.union([z.string().max(512), z.number(), z.boolean()]))
  .refine((a) => Object.keys(a).length <= 16, { message: 'at most 16 attributes' })
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
    file_ids: z.array(z.string()).min(1).max(500).optional(),
    files: z
      .array(z.strictObject({ file_id: z.string().min(1), chunking_strategy: ChunkingStrategy.optional(), attributes: Attributes.optional() }))
      .min(1)
      .max(500)
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

export const Filter: z.ZodType<FilterShape> = z.lazy(() =>
  z.union([ComparisonFilter, z.strictObject({ type: z.enum(['and', 'or']), filters: z.array(Filter).min(1) })]),
)

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
