import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** JSON columns: written as serialised text, read back parsed. */
type Json<T> = ColumnType<T, string, string>

export interface ApiKeyTable {
  key_hash: string
  project_id: string
  name: string | null
  created_at: number
}

export interface AssistantTable {
  id: string
  project_id: string
  seq: Generated<string>
  created_at: number
  model: string
  name: string | null
  description: string | null
  instructions: string | null
  tools: Json<unknown[]>
  tool_resources: Json<Record<string, unknown>>
  metadata: Json<Record<string, string>>
  temperature: number | null
  top_p: number | null
  response_format: Json<unknown>
  reasoning_effort: string | null
}

export interface ThreadTable {
  id: string
  project_id: string
  seq: Generated<string>
  created_at: number
  tool_resources: Json<Record<string, unknown>>
  metadata: Json<Record<string, string>>
}

export interface MessageTable {
  id: string
  project_id: string
  thread_id: string
  seq: Generated<string>
  created_at: number
  role: string
  status: string
  content: Json<unknown[]>
  attachments: Json<unknown[] | null>
  assistant_id: string | null
  run_id: string | null
  incomplete_details: Json<unknown>
  completed_at: number | null
  incomplete_at: number | null
  metadata: Json<Record<string, string>>
}

export interface RunTable {
  id: string
  project_id: string
  thread_id: string
  seq: Generated<string>
  created_at: number
  assistant_id: string
  status: string
  /** Model, instructions, tools and sampling settings frozen at creation. */
  settings: Json<Record<string, unknown>>
  required_action: Json<unknown>
  last_error: Json<unknown>
  incomplete_details: Json<unknown>
  usage: Json<unknown>
  metadata: Json<Record<string, string>>
  started_at: number | null
  expires_at: number | null
  cancelled_at: number | null
  failed_at: number | null
  completed_at: number | null
  /** Which process executes the run, and until when its claim holds. */
  lease_owner: string | null
  lease_expires_at: Date | null
  /** Set when a cancel is requested; the executor observes it. */
  cancel_requested: Generated<boolean>
  event_seq: Generated<number>
}

export interface RunStepTable {
  id: string
  project_id: string
  thread_id: string
  run_id: string
  assistant_id: string
  seq: Generated<string>
  created_at: number
  type: string
  status: string
  step_details: Json<Record<string, unknown>>
  last_error: Json<unknown>
  usage: Json<unknown>
  metadata: Json<Record<string, string> | null>
  expired_at: number | null
  cancelled_at: number | null
  failed_at: number | null
  completed_at: number | null
}

export interface RunEventTable {
  run_id: string
  seq: number
  event: string
  data: string
  created_at: Generated<Date>
}

export interface FileTable {
  id: string
  project_id: string
  seq: Generated<string>
  created_at: number
  filename: string
  purpose: string
  /** bigint: read back as a string by pg. */
  bytes: ColumnType<string | number, number, number>
  status: Generated<string>
  expires_at: number | null
  storage_key: string
}

export interface VectorStoreTable {
  id: string
  project_id: string
  seq: Generated<string>
  created_at: number
  name: Generated<string>
  description: ColumnType<string | null, string | null | undefined, string | null>
  metadata: Json<Record<string, string>>
  expires_after: Json<{ anchor: 'last_active_at'; days: number } | null>
  expires_at: number | null
  last_active_at: number | null
}

export interface FileBatchTable {
  id: string
  project_id: string
  vector_store_id: string
  seq: Generated<string>
  created_at: number
  cancelled: Generated<boolean>
}

export interface VectorStoreFileTable {
  vector_store_id: string
  id: string
  project_id: string
  seq: Generated<string>
  created_at: number
  status: string
  last_error: Json<{ code: string; message: string } | null>
  usage_bytes: ColumnType<string | number, number | undefined, number>
  chunking_strategy: Json<Record<string, unknown>>
  attributes: Json<Record<string, string | number | boolean> | null>
  batch_id: string | null
  chunk_count: Generated<number>
  attempt: Generated<number>
}

export interface LexemeStatsTable {
  vector_store_id: string
  lexeme: string
  df: number
}

export interface LexemeStatsDeltaTable {
  id: Generated<string>
  vector_store_id: string
  bucket: number
  stats: string
}

export interface ChunkTable {
  id: Generated<string>
  vector_store_id: string
  file_id: string
  chunk_index: number
  text: string
  tsv: Generated<string>
  embedding: number[] | null
}

export interface Database {
  api_keys: ApiKeyTable
  assistants: AssistantTable
  threads: ThreadTable
  messages: MessageTable
  runs: RunTable
  run_steps: RunStepTable
  run_events: RunEventTable
  files: FileTable
  vector_stores: VectorStoreTable
  file_batches: FileBatchTable
  vector_store_files: VectorStoreFileTable
  chunks: ChunkTable
  lexeme_stats: LexemeStatsTable
  lexeme_stats_deltas: LexemeStatsDeltaTable
}

export type AssistantRow = Selectable<AssistantTable>
export type ThreadRow = Selectable<ThreadTable>
export type MessageRow = Selectable<MessageTable>
export type RunRow = Selectable<RunTable>
export type RunStepRow = Selectable<RunStepTable>
export type NewMessage = Insertable<MessageTable>
export type NewRun = Insertable<RunTable>
export type RunUpdate = Updateable<RunTable>
export type FileRow = Selectable<FileTable>
export type VectorStoreRow = Selectable<VectorStoreTable>
export type FileBatchRow = Selectable<FileBatchTable>
export type VectorStoreFileRow = Selectable<VectorStoreFileTable>
