import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/** Assistants, threads, messages, runs, run steps, run events and API keys. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    create table api_keys (
      key_hash text primary key,
      project_id text not null,
      name text,
      created_at integer not null
    );

    create table assistants (
      id text primary key,
      project_id text not null,
      seq bigint generated always as identity,
      created_at integer not null,
      model text not null,
      name text,
      description text,
      instructions text,
      tools jsonb not null default '[]',
      tool_resources jsonb not null default '{}',
      metadata jsonb not null default '{}',
      temperature double precision,
      top_p double precision,
      response_format jsonb not null default '"auto"',
      reasoning_effort text
    );
    create index assistants_project_seq on assistants (project_id, seq);

    create table threads (
      id text primary key,
      project_id text not null,
      seq bigint generated always as identity,
      created_at integer not null,
      tool_resources jsonb not null default '{}',
      metadata jsonb not null default '{}'
    );

    create table messages (
      id text primary key,
      project_id text not null,
      thread_id text not null references threads (id) on delete cascade,
      seq bigint generated always as identity,
      created_at integer not null,
      role text not null,
      status text not null,
      content jsonb not null,
      attachments jsonb,
      assistant_id text,
      run_id text,
      incomplete_details jsonb,
      completed_at integer,
      incomplete_at integer,
      metadata jsonb not null default '{}'
    );
    create index messages_thread_seq on messages (thread_id, seq);

    create table runs (
      id text primary key,
      project_id text not null,
      thread_id text not null references threads (id) on delete cascade,
      seq bigint generated always as identity,
      created_at integer not null,
      assistant_id text not null,
      status text not null,
      settings jsonb not null,
      required_action jsonb,
      last_error jsonb,
      incomplete_details jsonb,
      usage jsonb,
      metadata jsonb not null default '{}',
      started_at integer,
      expires_at integer,
      cancelled_at integer,
      failed_at integer,
      completed_at integer,
      lease_owner text,
      lease_expires_at timestamptz,
      cancel_requested boolean not null default false,
      -- Sequence number of the run's newest stream event (cluster mode assigns them here).
      event_seq integer not null default 0
    );
    create index runs_thread_seq on runs (thread_id, seq);
    create index runs_status on runs (status) where status in ('queued', 'in_progress', 'requires_action', 'cancelling');
    -- One active run per thread, enforced by the database so concurrent creates cannot race.
    create unique index runs_one_active_per_thread on runs (thread_id)
      where status in ('queued', 'in_progress', 'requires_action', 'cancelling');

    create table run_steps (
      id text primary key,
      project_id text not null,
      thread_id text not null,
      run_id text not null references runs (id) on delete cascade,
      assistant_id text not null,
      seq bigint generated always as identity,
      created_at integer not null,
      type text not null,
      status text not null,
      step_details jsonb not null,
      last_error jsonb,
      usage jsonb,
      metadata jsonb,
      expired_at integer,
      cancelled_at integer,
      failed_at integer,
      completed_at integer
    );
    create index run_steps_run_seq on run_steps (run_id, seq);

    create table run_events (
      run_id text not null references runs (id) on delete cascade,
      seq integer not null,
      event text not null,
      -- The encoded JSON exactly as streamed: replays must be byte-identical.
      data text not null,
      created_at timestamptz not null default now(),
      primary key (run_id, seq)
    );
  `)
}
