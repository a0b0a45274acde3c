/* A small, fast, seedable random generator (xoshiro256**, seeded through splitmix64):
 * the same seed gives the same stream on every machine, which makes runs reproducible. */
#ifndef HYPLORA_RNG_H
#define HYPLORA_RNG_H

#include <stdint.h>

typedef struct hp_rng {
    uint64_t s[4];
} hp_rng;

void hp_rng_seed(hp_rng *r, uint64_t seed);
uint64_t hp_rng_u64(hp_rng *r);
double hp_rng_uniform(hp_rng *r); /* in [0, 1), 53 random bits */
double hp_rng_normal(hp_rng *r);  /* standard normal (Box-Muller, one value per call) */

#endif
