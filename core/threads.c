#include "core/threads.h"

#include <omp.h>
#include <unistd.h>

void openblas_set_num_threads(int n);

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
