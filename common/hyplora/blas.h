/* OpenBLAS's own threads: how many there are, and how they wait between products. */
#ifndef HYPLORA_BLAS_H
#define HYPLORA_BLAS_H

/* Sets OpenBLAS's thread count (threads > 0; else its default, all cores) and, unless the
 * user set OPENBLAS_THREAD_TIMEOUT, makes its idle threads sleep at once instead of
 * spinning on sched_yield for about 0.1 s after every product. The library runs its own
 * threads between the products (norms, attention, activations); spinning BLAS threads took
 * cores from them: about 12% of a SmolLM-shaped training step (docs/performance.md). Call
 * once, before any other thread is started. */
void hp_blas_setup(int threads);

#endif
