/**
 * Node flags a Threadline server process runs with (`npm start`, `npm run threadline`, the
 * benchmarks, and processes the benchmarks and tests start). V8 takes them only on the command line
 * (not from `NODE_OPTIONS`, nor once the process runs), so package.json's scripts repeat them; a
 * unit test keeps the two in step.
 *
 * `--min-semi-space-size=16`: V8 starts the young generation at 1 MB, grows it under load and
 * shrinks it again when allocation slows, so every busy spell commits fresh pages. On the VMs we
 * measure on, first use of a page costs ~13 µs (3.3 ms per MB), and a batch of 200 small files
 * touched ~15,000 fresh pages; keeping the semi-spaces at V8's own maximum (16 MB each on 64-bit)
 * took a third of them away and ingestion of new text from 2.76 to 3.14 MB/s (6 alternations).
 * Untouched space costs no resident memory; idle RSS did not change.
 *
 * `--no-wasm-dynamic-tiering`: the embedded database is WebAssembly (PGlite), compiled first by
 * V8's baseline compiler and, with dynamic tiering, recompiled by TurboFan function by function as
 * each one has run enough. Its code is large and many functions are only warm, so that tier-up
 * went on through the first many batches a server ingested: ~50–70 ms of compiling per 2 MB batch
 * (perf), on the same two cores as the work. Without dynamic tiering, V8 optimizes a function in
 * the background as soon as it is first run: a server does that compiling in its first seconds
 * (~2 s more CPU at start-up; +1 s to the first `/health` on a new data dir, +0.3–1 s on an
 * existing one) and ingests 200 small files of new text at 4.35 → 4.71 MB/s (6 alternations).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16', '--no-wasm-dynamic-tiering']

/** Node's arguments for a Threadline server process running `src/cli.ts` with `args` (from the project root). */
export const serverProcessArgs = (...args: string[]): string[] => [...SERVER_NODE_FLAGS, '--import', 'tsx', 'src/cli.ts', ...args]
