# Included by _kernels.pyx: Ctrl-C during training (a flag the batch loop reads between batches) and the build's bounds-check flag.

cdef extern from *:
    """
    #include <signal.h>
    #include <string.h>
    /* Ctrl-C during training: a SIGINT handler that raises a flag the batch loop reads between batches, then
       hands the signal on to the handler it replaced (Python's, which raises KeyboardInterrupt later). */
    static volatile sig_atomic_t fastnn_interrupted = 0;
    static struct sigaction fastnn_prev_action;
    static int fastnn_installed = 0;
    static void fastnn_on_sigint(int sig) {
        fastnn_interrupted = 1;
        if (fastnn_prev_action.sa_flags & SA_SIGINFO) {
            if (fastnn_prev_action.sa_sigaction) fastnn_prev_action.sa_sigaction(sig, NULL, NULL);
        } else if (fastnn_prev_action.sa_handler != SIG_DFL && fastnn_prev_action.sa_handler != SIG_IGN
                   && fastnn_prev_action.sa_handler != NULL) {
            fastnn_prev_action.sa_handler(sig);
        }
    }
    /* 0: installed; 1: SIGINT is ignored, nothing installed; -1: failed. */
    static int fastnn_install_sigint(void) {
        struct sigaction act, prev;
        if (fastnn_installed) return -1;
        if (sigaction(SIGINT, NULL, &prev) != 0) return -1;
        if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler == SIG_IGN) return 1;
        memset(&act, 0, sizeof(act));
        act.sa_handler = fastnn_on_sigint;
        sigemptyset(&act.sa_mask);
        act.sa_flags = SA_ONSTACK;
        fastnn_interrupted = 0;
        if (sigaction(SIGINT, &act, &fastnn_prev_action) != 0) return -1;
        fastnn_installed = 1;
        return 0;
    }
    /* Restores the replaced handler; returns 1 if SIGINT arrived meanwhile and that handler was SIG_DFL. */
    static int fastnn_restore_sigint(void) {
        int hit_default;
        if (!fastnn_installed) return 0;
        sigaction(SIGINT, &fastnn_prev_action, NULL);
        fastnn_installed = 0;
        hit_default = fastnn_interrupted && !(fastnn_prev_action.sa_flags & SA_SIGINFO)
                      && fastnn_prev_action.sa_handler == SIG_DFL;
        fastnn_interrupted = 0;
        return hit_default;
    }
    static int fastnn_was_interrupted(void) { return fastnn_interrupted != 0; }
    """
    int fastnn_install_sigint() noexcept nogil
    int fastnn_restore_sigint() noexcept nogil
    int fastnn_was_interrupted() noexcept nogil


cdef extern from *:
    """
    #ifndef FASTNN_BOUNDSCHECK
    #define FASTNN_BOUNDSCHECK 0
    #endif
    """
    int FASTNN_BOUNDSCHECK

#: Whether this build has Cython's bounds and initialisation checks on (meson option ``boundscheck``).
BOUNDSCHECK = bool(FASTNN_BOUNDSCHECK)


def install_sigint():
    """Route SIGINT through a flag that stops training at the next batch boundary (main thread only);
    returns 0 when installed, 1 when SIGINT is ignored, -1 when it could not be installed."""
    return fastnn_install_sigint()


def was_interrupted():
    """Whether SIGINT arrived since ``install_sigint`` (training loops written in Python stop at the next batch)."""
    return bool(fastnn_was_interrupted())


def restore_sigint():
    """Put back the SIGINT handler ``install_sigint`` replaced; True if a SIGINT arrived meanwhile and that
    handler was the default one (the caller should then re-raise the signal)."""
    return bool(fastnn_restore_sigint())
