#include "core/threads.h"

#include <omp.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <unistd.h>

void openblas_set_num_threads(int n);
char *openblas_get_corename(void);

/* Cores OpenBLAS falls back to when it does not know the CPU. */
static int is_fallback_core(const char *core) {
    static const char *const fallbacks[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                            "Sandybridge", "Katmai", "Coppermine", "Northwood", "Banias", "unknown"};
    for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++)
        if (!strcasecmp(core, fallbacks[i])) return 1;
    return 0;
}

void mn_blas_select_core(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *core = openblas_get_corename();
    if (!core || !is_fallback_core(core)) return;
    const char *want = NULL;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
#endif
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the slow kernels rather than not at all */
}

static int thread_count;

void mn_set_threads(int n) {
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    thread_count = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
}

int mn_threads(void) {
    if (thread_count == 0) mn_set_threads(0);
    return thread_count;
}
