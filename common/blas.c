/* hp_blas_setup. OpenBLAS reads OPENBLAS_THREAD_TIMEOUT (log2 of the cycles an idle thread
 * spins before it sleeps; 4 is its minimum) only while starting its threads, from a copy of
 * the environment taken at load. So the value is put in the environment, the copy is
 * refreshed and the threads are stopped; OpenBLAS starts them again, with the new timeout,
 * at the next product that wants them. The two functions are exported by OpenBLAS's
 * pthread build but are not in its header: weak references, so a build without them keeps
 * the default. */
#include <cblas.h>
#include <stdlib.h>

#include "hyplora/blas.h"

extern void openblas_read_env(void) __attribute__((weak));
extern int blas_thread_shutdown_(void) __attribute__((weak));

void hp_blas_setup(int threads)
{
    if (!getenv("OPENBLAS_THREAD_TIMEOUT") && openblas_read_env && blas_thread_shutdown_) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
        openblas_read_env();
        unsetenv("OPENBLAS_THREAD_TIMEOUT"); /* not for the programs this one starts */
        blas_thread_shutdown_();
    }
    if (threads > 0)
        openblas_set_num_threads(threads);
}
