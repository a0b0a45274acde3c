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

/* A pool of threads kept for the life of the process, so that a loop costs a wake-up
 * rather than thread creation: the forward pass runs hundreds of short loops per token.
 * Between loops a pool thread first spins for a few tens of microseconds, then sleeps on a
 * condition variable; the spin catches the next loop of a tight sequence without the
 * latency of a wake-up. One loop uses the pool at a time; a loop started while it is busy
 * (from another thread, or from inside a loop) gets threads of its own. */
enum { POOL_MAX = 256, SPINS = 4000 };

static struct {
    pthread_mutex_t busy; /* held by the loop using the pool */
    pthread_mutex_t lock; /* guards the sleeping and waking, and job */
    pthread_cond_t wake, done;
    int n_threads;
    atomic_ulong generation; /* bumped for every loop; threads run each generation once */
    unsigned long start_generation[POOL_MAX];
    loop *job;
    int job_workers;     /* workers 1 .. job_workers-1 are pool threads */
    atomic_int pending;  /* pool threads of the current loop not yet finished */
} pool = {.busy = PTHREAD_MUTEX_INITIALIZER,
          .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *pool_thread(void *arg)
{
    int worker = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool.lock);
    unsigned long seen = pool.start_generation[worker];
    pthread_mutex_unlock(&pool.lock);
    for (;;) {
        for (int i = 0; i < SPINS && atomic_load(&pool.generation) == seen; i++)
            cpu_relax();
        pthread_mutex_lock(&pool.lock);
        while (atomic_load(&pool.generation) == seen)
            pthread_cond_wait(&pool.wake, &pool.lock);
        seen = atomic_load(&pool.generation);
        worker_arg a = {pool.job, worker};
        bool mine = worker < pool.job_workers;
        pthread_mutex_unlock(&pool.lock);
        if (!mine)
            continue;
        run(&a);
        if (atomic_fetch_sub(&pool.pending, 1) == 1) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

/* Runs l on the pool with n_workers workers (this thread is worker 0). Returns -1 without
 * running anything when the pool cannot supply them (busy, or no thread could start). */
static int pool_run(loop *l, int n_workers)
{
    if (n_workers > POOL_MAX || pthread_mutex_trylock(&pool.busy) != 0)
        return -1;
    pthread_mutex_lock(&pool.lock);
    while (pool.n_threads < n_workers - 1) {
        int worker = pool.n_threads + 1;
        pool.start_generation[worker] = atomic_load(&pool.generation);
        pthread_t tid;
        if (pthread_create(&tid, NULL, pool_thread, (void *)(intptr_t)worker) != 0)
            break;
        pthread_detach(tid);
        pool.n_threads++;
    }
    if (pool.n_threads < n_workers - 1) {
        pthread_mutex_unlock(&pool.lock);
        pthread_mutex_unlock(&pool.busy);
        return -1;
    }
    pool.job = l;
    pool.job_workers = n_workers;
    atomic_store(&pool.pending, n_workers - 1);
    atomic_fetch_add(&pool.generation, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    worker_arg self = {l, 0};
    run(&self);

    for (int i = 0; i < SPINS && atomic_load(&pool.pending) > 0; i++)
        cpu_relax();
    pthread_mutex_lock(&pool.lock);
    while (atomic_load(&pool.pending) > 0)
        pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
    return 0;
}

/* Runs l on n_workers threads created for this loop alone. */
static void spawn_run(loop *l, int n_workers)
{
    pthread_t *tid = calloc((size_t)n_workers, sizeof *tid);
    worker_arg *args = calloc((size_t)n_workers, sizeof *args);
    int started = 1; /* worker 0 is this thread; with no memory for more, it does it all */
    for (int w = 0; w < n_workers; w++)
        if (args)
            args[w] = (worker_arg){l, w};
    for (int w = 1; tid && args && w < n_workers; w++, started++)
        if (pthread_create(&tid[w], NULL, run, &args[w]) != 0)
            break;
    worker_arg self = {l, 0};
    run(&self);
    for (int w = 1; w < started; w++)
        pthread_join(tid[w], NULL);
    free(tid);
    free(args);
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
    /* A loop of one chunk, or one worker, runs here without waking anyone. */
    if (n_workers == 1 || n <= l.chunk) {
        worker_arg self = {&l, 0};
        run(&self);
    } else if (pool_run(&l, n_workers) != 0) {
        spawn_run(&l, n_workers);
    }
    pthread_mutex_destroy(&l.lock);
    if (atomic_load(&l.err_begin) != SIZE_MAX) {
        if (err)
            *err = l.err;
        return -1;
    }
    return 0;
}
