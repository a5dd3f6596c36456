/* A small, fast, seedable random generator (xoshiro256**), so synthetic checkpoints, random
 * baselines and training runs are reproducible from a seed on every machine. */
#ifndef MN_CORE_RNG_H
#define MN_CORE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} mn_rng;

void mn_rng_seed(mn_rng *r, uint64_t seed);
uint64_t mn_rng_next(mn_rng *r);
/* Uniform in [0, 1). */
double mn_rng_uniform(mn_rng *r);
/* Standard normal. */
double mn_rng_normal(mn_rng *r);

#endif
