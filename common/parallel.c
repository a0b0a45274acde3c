/* hp_parallel_for: pthreads and one atomic chunk counter. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "parallel.h"

int hp_threads_resolve(int threads, size_t max_useful)
{
    long n = threads > 0 ? threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (max_useful < 1)
        max_useful = 1;
    return (size_t)n > max_useful ? (int)max_useful : (int)n;
}

typedef struct loop {
    hp_chunk_fn fn;
    void *ctx;
    size_t n, chunk;
    atomic_size_t next;
    atomic_size_t err_begin; /* start of the earliest failed chunk so far; SIZE_MAX: none */
    pthread_mutex_t lock;
    hp_err err;
} loop;

typedef struct worker_arg {
    loop *l;
    int worker;
} worker_arg;

/* A chunk is skipped only when it starts after a chunk that already failed, so every chunk
 * before the earliest failing one runs and that chunk's error is the one returned, however
 * the threads were scheduled. */
static void *run(void *p)
{
    worker_arg *a = p;
    loop *l = a->l;
    for (;;) {
        size_t begin = atomic_fetch_add(&l->next, l->chunk);
        if (begin >= l->n || begin > atomic_load(&l->err_begin))
            break;
        size_t end = l->n - begin > l->chunk ? begin + l->chunk : l->n;
        hp_err e;
        if (l->fn(l->ctx, a->worker, begin, end, &e) != 0) {
            pthread_mutex_lock(&l->lock);
            if (begin < atomic_load(&l->err_begin)) {
                l->err = e;
                atomic_store(&l->err_begin, begin);
            }
            pthread_mutex_unlock(&l->lock);
            break;
        }
    }
    return NULL;
}

int hp_parallel_for(int n_workers, size_t n, size_t chunk, hp_chunk_fn fn, void *ctx,
                    hp_err *err)
{
    if (n == 0)
        return 0;
    loop l = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk ? chunk : 1};
    atomic_init(&l.next, 0);
    atomic_init(&l.err_begin, SIZE_MAX);
    pthread_mutex_init(&l.lock, NULL);
    if (n_workers < 1)
        n_workers = 1;
    pthread_t *tid = calloc((size_t)n_workers, sizeof *tid);
    worker_arg *args = calloc((size_t)n_workers, sizeof *args);
    int started = 1; /* worker 0 is this thread; with no memory for more, it does it all */
    for (int w = 0; w < n_workers; w++)
        if (args)
            args[w] = (worker_arg){&l, w};
    for (int w = 1; tid && args && w < n_workers; w++, started++)
        if (pthread_create(&tid[w], NULL, run, &args[w]) != 0)
            break;
    worker_arg self = {&l, 0};
    run(&self);
    for (int w = 1; w < started; w++)
        pthread_join(tid[w], NULL);
    free(tid);
    free(args);
    pthread_mutex_destroy(&l.lock);
    if (atomic_load(&l.err_begin) != SIZE_MAX) {
        if (err)
            *err = l.err;
        return -1;
    }
    return 0;
}
