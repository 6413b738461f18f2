import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/**
 * Files, vector stores, their files and batches, and the searchable chunks.
 *
 * Embeddings are stored as `real[]` and ranked by an exact cosine scan, not with pgvector:
 * PGlite's pgvector build pins an older PGlite than ours, and Debian's Postgres here has no
 * pgvector either. One code path for both databases; lexical search (tsvector + GIN) is the
 * always-available index.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    create table files (
      id text primary key,
      project_id text not null,
      seq bigint generated always as identity,
      created_at integer not null,
      filename text not null,
      purpose text not null,
      bytes bigint not null,
      status text not null default 'processed',
      expires_at integer,
      -- Where the bytes live, relative to the file storage root.
      storage_key text not null
    );
    create index files_project_seq on files (project_id, seq);

    create table vector_stores (
      id text primary key,
      project_id text not null,
      seq bigint generated always as identity,
      created_at integer not null,
      name text not null default '',
      metadata jsonb not null default '{}',
      expires_after jsonb,
      expires_at integer,
      last_active_at integer
    );
    create index vector_stores_project_seq on vector_stores (project_id, seq);

    create table file_batches (
      id text primary key,
      project_id text not null,
      vector_store_id text not null references vector_stores (id) on delete cascade,
      seq bigint generated always as identity,
      created_at integer not null,
      cancelled boolean not null default false
    );

    create table vector_store_files (
      vector_store_id text not null references vector_stores (id) on delete cascade,
      id text not null,
      project_id text not null,
      seq bigint generated always as identity,
      created_at integer not null,
      status text not null,
      last_error jsonb,
      usage_bytes bigint not null default 0,
      chunking_strategy jsonb not null,
      attributes jsonb,
      batch_id text,
      primary key (vector_store_id, id)
    );
    create index vector_store_files_store_seq on vector_store_files (vector_store_id, seq);
    create index vector_store_files_batch on vector_store_files (batch_id, seq) where batch_id is not null;
    create index vector_store_files_pending on vector_store_files (status) where status = 'in_progress';

    create table chunks (
      id bigint generated always as identity primary key,
      vector_store_id text not null,
      file_id text not null,
      chunk_index integer not null,
      text text not null,
      tsv tsvector generated always as (to_tsvector('english', text)) stored,
      embedding real[],
      foreign key (vector_store_id, file_id) references vector_store_files (vector_store_id, id) on delete cascade
    );
    create index chunks_store_file on chunks (vector_store_id, file_id, chunk_index);
    create index chunks_tsv on chunks using gin (tsv);
  `)
}
