# OpenMP shim: compiles with or without OpenMP support.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fastnn_openmp_enabled(void) { return 1; }
    static int fastnn_max_threads(void) { return omp_get_max_threads(); }
    static int fastnn_thread_num(void) { return omp_get_thread_num(); }
    #else
    static int fastnn_openmp_enabled(void) { return 0; }
    static int fastnn_max_threads(void) { return 1; }
    static int fastnn_thread_num(void) { return 0; }
    #endif
    """
    bint fastnn_openmp_enabled() noexcept nogil
    int fastnn_max_threads() noexcept nogil
    int fastnn_thread_num() noexcept nogil
