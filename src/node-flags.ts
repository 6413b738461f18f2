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
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16']
