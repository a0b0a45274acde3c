/* Progress of long library work is reported through a callback; the CLI turns it into
 * a progress line on a terminal (and nothing when stderr is not one). */
#ifndef HYPLORA_PROGRESS_H
#define HYPLORA_PROGRESS_H

#include <stdint.h>

typedef struct hp_progress {
    void (*update)(struct hp_progress *p, uint64_t done, uint64_t total);
    void *ctx;
} hp_progress;

static inline void hp_progress_update(hp_progress *p, uint64_t done, uint64_t total)
{
    if (p && p->update)
        p->update(p, done, total);
}

#endif
