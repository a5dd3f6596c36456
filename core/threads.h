/* How many threads minnow's parallel loops use.
 *
 * minnow parallelises with OpenMP and calls OpenBLAS single-threaded from inside its own
 * parallel regions (each thread multiplies its own tile of a weight matrix), so the two
 * thread pools never compete for the same cores. */
#ifndef MN_CORE_THREADS_H
#define MN_CORE_THREADS_H

/* OpenBLAS 0.3.21 (Debian 12) does not recognise recent CPUs (e.g. Intel family 6 model 207)
 * and falls back to its Prescott kernels, 3-5x slower than its AVX-512 or AVX2 ones. Its core
 * is chosen when the library loads, so the only fix is to set OPENBLAS_CORETYPE and re-run
 * the program: when OpenBLAS picked a pre-Haswell core on a CPU with AVX2/AVX-512, this
 * re-executes /proc/self/exe with argv and the right core type. Call first thing in main(). */
void mn_blas_select_core(char **argv);

/* n <= 0 means one thread per available core. */
void mn_set_threads(int n);
int mn_threads(void);

#endif
