/* How many threads minnow's parallel loops use.
 *
 * minnow parallelises with OpenMP and calls OpenBLAS single-threaded from inside its own
 * parallel regions (each thread multiplies its own tile of a weight matrix), so the two
 * thread pools never compete for the same cores. */
#ifndef MN_CORE_THREADS_H
#define MN_CORE_THREADS_H

/* n <= 0 means one thread per available core. */
void mn_set_threads(int n);
int mn_threads(void);

#endif
