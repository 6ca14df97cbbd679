# cython: language_level=3
# fastnn's thread pool: runs the independent tasks of one step of work on the calling thread and on helper
# threads, and is done when every task is done - never waiting for a thread that has nothing to do.
#
# Why not OpenMP's teams: a parallel region ends at a barrier that every thread of the team must reach. On a busy
# machine the operating system deschedules one of them for a whole time slice (milliseconds), and every region
# of a batch (a dozen per training step) then waits for it, while the threads that arrived spin and take the CPU
# the late one needs: two threads beside one busy process ran 2-30x slower than one thread. Here:
#
# * The caller publishes a job (a task function, its context, the number of tasks) and takes tasks itself. Tasks
#   are claimed one at a time from a shared counter, so a helper that is not running claims nothing, and the
#   caller (or another helper) does its share; the job is complete when the count of finished tasks reaches the
#   number of tasks. A job waits for a thread only while that thread is inside a task it claimed.
# * A waiting thread (an idle helper, or the caller waiting for the last claimed tasks) polls a few times, then
#   yields its core between polls (on a busy machine the core goes to a thread with work, perhaps the one it waits
#   for; on a quiet one the yield returns at once), and after ``spin_us`` (default 500 us, far longer than the
#   gaps between the phases of a training step) sleeps on a condition variable; the caller wakes helpers only
#   when some are asleep. Measured on 2 cores beside a busy process, 2 epochs of a 784-256-128-10 network: one
#   thread 0.93 s; two 0.93-1.03 s when waiting threads sleep after 500 us, 1.1-1.6 s after 50 us or at once
#   (a wake-up costs more than the yields), 1.2-1.5 s after 10 ms.
# * A stall backs off: when, after its own tasks, the caller waited for a helper far longer than its own work
#   (the helper was taken off its core mid-task), the next jobs run in the calling thread alone - 16 of them,
#   doubling with each stall in a row up to 4,096 (about a second of training), halving with each job that runs
#   without one - and the pool then tries its helpers again.
# * Each thread has a share of a job's tasks (slot s: tasks s, s + n, s + 2n, ... of n threads), runs it first,
#   then takes what is left of the others' shares. Call after call the same thread runs the same tasks and finds
#   their data in its own cache: a one-row predict of 784-512-512-10 reads 2.7 MB of weights, more than one
#   core's L2 cache (2 MB here) but half of it fits in each. A descheduled helper's share goes to the others.
# * Which thread runs a task never changes what the task computes (tasks are fixed by shapes alone, and a task's
#   ``slot`` only picks its scratch space), so results stay bit-identical for any number of threads.
# * One job at a time: a second thread calling while a job runs (two Python threads predicting at once) runs its
#   tasks serially on its own thread. After ``fork`` the child starts with no helpers and makes new ones.
# * Each extension that cimports this file has a pool of its own (``_kernels`` for the networks, ``_kmeans`` for
#   k-means): idle helpers sleep, so the second pool costs nothing while unused.
cdef extern from *:
    """
    #include <pthread.h>
    #include <sched.h>
    #include <signal.h>
    #include <stdint.h>
    #include <time.h>
    #if defined(__x86_64__) || defined(__i386__)
    #include <immintrin.h>
    #define FASTNN_PAUSE() _mm_pause()
    #elif defined(__aarch64__)
    #define FASTNN_PAUSE() __asm__ __volatile__("yield")
    #else
    #define FASTNN_PAUSE() ((void)0)
    #endif

    typedef void (*fastnn_task_fn)(void *ctx, Py_ssize_t task, int slot);

    #define FASTNN_POOL_MAX 256
    /* Jobs run in the calling thread after a stall: at first this many, doubling with each stall in a row (up to
       the maximum), halving with each job that runs without one. */
    #define FASTNN_BACKOFF_MIN 16
    #define FASTNN_BACKOFF_MAX 4096
    /* A stall: after its own tasks, the caller waited for a helper's task longer than this (nanoseconds) and
       than four times its own work. A helper simply given a longer task rarely keeps the caller waiting that
       long (a dense network's tasks take tens to hundreds of microseconds); one the operating system took off
       its core (a busy machine) holds its task for a time slice, about a millisecond or more. */
    #define FASTNN_STALL_NS 500000
    #define FASTNN_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
    #define FASTNN_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

    typedef struct {
        pthread_mutex_t owner;      /* held by the thread whose job is running */
        pthread_mutex_t lock;       /* guards sleeping and waking */
        pthread_cond_t work;        /* idle helpers sleep here */
        pthread_cond_t finished;    /* the caller sleeps here while the last tasks finish */
        int n_helpers;              /* helper threads started (slots 1 .. n_helpers) */
        /* The current job; written by its caller before the generation that announces it. */
        fastnn_task_fn fn;
        void *ctx;
        int64_t n_tasks;
        int n_slots;                /* helpers with slot >= n_slots sit this job out */
        uint64_t state;             /* generation << 32: announces a job to the helpers */
        int slots_open;             /* slots whose claim words the last job opened */
        int64_t done;               /* tasks of the current job finished */
        int sleepers;               /* helpers asleep on `work` */
        int caller_asleep;          /* the caller sleeps on `finished` */
        int64_t spin_ns;            /* how long a waiting thread polls before it sleeps */
        int64_t serial_left;        /* jobs still to run in the calling thread alone, after a stall */
        int64_t backoff;            /* how many jobs the next stall sends there */
    } fastnn_pool_t;

    static fastnn_pool_t fastnn_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                        PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
                                        0, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 500000, 0, FASTNN_BACKOFF_MIN};
    /* Claim words, one a slot on its own cache line: generation << 32 | k, the next unclaimed task of the slot's
       share (tasks slot, slot + n_slots, slot + 2 n_slots, ...). */
    typedef struct { uint64_t word; char pad[56]; } fastnn_claim_t;
    static fastnn_claim_t fastnn_claims[FASTNN_POOL_MAX];
    static int fastnn_pool_atfork = 0;

    static inline int64_t fastnn_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
    }

    /* Waits, for at most the pool's spin time, until `*word >> shift` differs from `seen`; returns whether it
       did. A few polls first, then a yield between polls: on a quiet machine a yield returns at once, on a busy
       one it hands the core to a thread that has work (perhaps the one this thread is waiting for). */
    static int fastnn_spin_until_changed(uint64_t *word, uint64_t seen, int shift) {
        int64_t deadline = -1;
        for (int i = 1;; i++) {
            if ((FASTNN_LOAD(word) >> shift) != seen) return 1;
            if (i < 64) { FASTNN_PAUSE(); continue; }
            if (deadline < 0) deadline = fastnn_now_ns() + fastnn_pool.spin_ns;
            else if (fastnn_now_ns() >= deadline) return 0;
            sched_yield();
        }
    }

    /* Claims and runs one task of share `share` of generation `gen`; returns 0 when the share has none left (or
       the job is no longer generation gen's). */
    static int fastnn_take_one(fastnn_pool_t *p, uint64_t gen, int share, int slot) {
        uint64_t *word = &fastnn_claims[share].word;
        for (;;) {
            uint64_t s = __atomic_load_n(word, __ATOMIC_ACQUIRE);
            if ((s >> 32) != gen) return 0;
            int64_t n = __atomic_load_n(&p->n_tasks, __ATOMIC_RELAXED);
            int shares = __atomic_load_n(&p->n_slots, __ATOMIC_RELAXED);
            fastnn_task_fn fn = __atomic_load_n(&p->fn, __ATOMIC_RELAXED);
            void *ctx = __atomic_load_n(&p->ctx, __ATOMIC_RELAXED);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);  /* the job's fields are read before the claim below */
            int64_t t = share + (int64_t) (s & 0xffffffffu) * shares;
            if (t >= n) return 0;
            /* The claim succeeds only if the word is still s: nobody claimed this task meanwhile, and no caller
               began writing another job (it closes every claim word first, see fastnn_run), so the job read
               above is generation gen's. */
            if (!__atomic_compare_exchange_n(word, &s, s + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                continue;
            fn(ctx, (Py_ssize_t) t, slot);
            if (__atomic_add_fetch(&p->done, 1, __ATOMIC_SEQ_CST) == n && FASTNN_LOAD(&p->caller_asleep)) {
                pthread_mutex_lock(&p->lock);
                pthread_cond_signal(&p->finished);
                pthread_mutex_unlock(&p->lock);
            }
            return 1;
        }
    }

    /* Runs tasks of generation `gen` until none is left: first the thread's own share (so that, call after call,
       a thread runs the same tasks and finds their data in its cache), then what is left of the others'. */
    static void fastnn_take_tasks(fastnn_pool_t *p, uint64_t gen, int slot) {
        int shares = __atomic_load_n(&p->n_slots, __ATOMIC_ACQUIRE);
        for (int k = 0; k < shares; k++) {
            int share = (slot + k) % shares;
            while (fastnn_take_one(p, gen, share, slot)) {}
        }
    }

    static void *fastnn_helper_main(void *arg) {
        fastnn_pool_t *p = &fastnn_pool;
        int slot = (int) (intptr_t) arg;
        uint64_t seen = FASTNN_LOAD(&p->state) >> 32;
        for (;;) {
            if (!fastnn_spin_until_changed(&p->state, seen, 32)) {
                pthread_mutex_lock(&p->lock);
                FASTNN_STORE(&p->sleepers, FASTNN_LOAD(&p->sleepers) + 1);
                while ((FASTNN_LOAD(&p->state) >> 32) == seen)
                    pthread_cond_wait(&p->work, &p->lock);
                FASTNN_STORE(&p->sleepers, FASTNN_LOAD(&p->sleepers) - 1);
                pthread_mutex_unlock(&p->lock);
            }
            uint64_t gen = FASTNN_LOAD(&p->state) >> 32;
            if (slot < __atomic_load_n(&p->n_slots, __ATOMIC_RELAXED)) fastnn_take_tasks(p, gen, slot);
            seen = gen;
        }
        return NULL;
    }

    static void fastnn_pool_after_fork(void) {
        /* The helpers do not exist in a forked child, and the locks may have been held by threads that do not
           exist either: start again from an empty pool. */
        fastnn_pool_t *p = &fastnn_pool;
        pthread_mutex_init(&p->owner, NULL);
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->work, NULL);
        pthread_cond_init(&p->finished, NULL);
        p->n_helpers = 0;
        p->sleepers = 0;
        p->caller_asleep = 0;
        p->state = (p->state >> 32) << 32;
        for (int k = 0; k < FASTNN_POOL_MAX; k++) fastnn_claims[k].word = p->state | 0xffffffffu;
        p->slots_open = 0;
        p->n_tasks = 0;
        p->done = 0;
        p->serial_left = 0;
        p->backoff = FASTNN_BACKOFF_MIN;
    }

    /* Starts helpers up to `want` (slots 1 .. want); called by the job's owner. Signals are blocked in helpers,
       so Ctrl-C reaches the thread that handles it. */
    static void fastnn_pool_grow(fastnn_pool_t *p, int want) {
        sigset_t all, old;
        if (want > FASTNN_POOL_MAX - 1) want = FASTNN_POOL_MAX - 1;
        if (p->n_helpers >= want) return;
        if (!fastnn_pool_atfork) {
            pthread_atfork(NULL, NULL, fastnn_pool_after_fork);
            fastnn_pool_atfork = 1;
        }
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        while (p->n_helpers < want) {
            pthread_t th;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            int rc = pthread_create(&th, &attr, fastnn_helper_main, (void *) (intptr_t) (p->n_helpers + 1));
            pthread_attr_destroy(&attr);
            if (rc != 0) break;  /* fewer helpers: the caller takes their tasks */
            p->n_helpers++;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }

    /* Runs fn(ctx, t, slot) for t = 0 .. n_tasks - 1 on up to n_threads threads (slot: 0 for the calling thread,
       1 .. n_threads - 1 for helpers; a task's slot picks its scratch space, never what it computes). */
    static void fastnn_run(fastnn_task_fn fn, void *ctx, Py_ssize_t n_tasks, int n_threads) {
        fastnn_pool_t *p = &fastnn_pool;
        Py_ssize_t t;
        if (n_threads > n_tasks) n_threads = (int) n_tasks;
        if (n_threads > FASTNN_POOL_MAX) n_threads = FASTNN_POOL_MAX;
        if (n_threads <= 1 || n_tasks > 0x7fffffff || pthread_mutex_trylock(&p->owner) != 0) {
            for (t = 0; t < n_tasks; t++) fn(ctx, t, 0);
            return;
        }
        if (p->serial_left > 0) {  /* backing off after a stall: this job in the calling thread alone */
            p->serial_left--;
            pthread_mutex_unlock(&p->owner);
            for (t = 0; t < n_tasks; t++) fn(ctx, t, 0);
            return;
        }
        fastnn_pool_grow(p, n_threads - 1);
        int64_t started = fastnn_now_ns();
        uint64_t old_gen = FASTNN_LOAD(&p->state) >> 32, gen = (old_gen + 1) & 0xffffffffu;
        int k;
        /* Close the claim words (the same generation, no task left to claim) before writing the job: a helper
           that read the previous job's word can then no longer claim with it. */
        for (k = 0; k < p->slots_open; k++) FASTNN_STORE(&fastnn_claims[k].word, (old_gen << 32) | 0xffffffffu);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&p->fn, fn, __ATOMIC_RELAXED);
        __atomic_store_n(&p->ctx, ctx, __ATOMIC_RELAXED);
        __atomic_store_n(&p->n_tasks, (int64_t) n_tasks, __ATOMIC_RELAXED);
        __atomic_store_n(&p->n_slots, n_threads, __ATOMIC_RELAXED);
        FASTNN_STORE(&p->done, 0);
        for (k = 0; k < n_threads; k++) FASTNN_STORE(&fastnn_claims[k].word, gen << 32);
        p->slots_open = n_threads;
        FASTNN_STORE(&p->state, gen << 32);
        if (FASTNN_LOAD(&p->sleepers) > 0) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_broadcast(&p->work);
            pthread_mutex_unlock(&p->lock);
        }
        fastnn_take_tasks(p, gen, 0);
        int64_t own = fastnn_now_ns() - started, waited = 0;
        /* Every task is claimed; wait for those still running on helpers. */
        if (FASTNN_LOAD(&p->done) < n_tasks) {
            int64_t deadline = -1;
            for (int i = 1; FASTNN_LOAD(&p->done) < n_tasks; i++) {
                if (i < 64) { FASTNN_PAUSE(); continue; }
                if (deadline < 0) deadline = fastnn_now_ns() + p->spin_ns;
                sched_yield();
                if (fastnn_now_ns() >= deadline) {
                    pthread_mutex_lock(&p->lock);
                    FASTNN_STORE(&p->caller_asleep, 1);
                    while (FASTNN_LOAD(&p->done) < n_tasks)
                        pthread_cond_wait(&p->finished, &p->lock);
                    FASTNN_STORE(&p->caller_asleep, 0);
                    pthread_mutex_unlock(&p->lock);
                    break;
                }
            }
            waited = fastnn_now_ns() - started - own;
        }
        if (waited > FASTNN_STALL_NS && waited > 4 * own) {  /* a helper was held up: run the next jobs alone */
            p->serial_left = p->backoff;
            if (p->backoff < FASTNN_BACKOFF_MAX) p->backoff *= 2;
        } else if (p->backoff > FASTNN_BACKOFF_MIN) {
            p->backoff /= 2;
        }
        pthread_mutex_unlock(&p->owner);
    }

    static void fastnn_pool_set_spin(double microseconds) {
        if (!(microseconds >= 0)) microseconds = 0;          /* NaN or negative */
        if (microseconds > 1e6) microseconds = 1e6;          /* at most a second */
        fastnn_pool.spin_ns = (int64_t) (microseconds * 1000.0);
    }
    static double fastnn_pool_spin(void) { return fastnn_pool.spin_ns / 1000.0; }
    static int fastnn_pool_helpers(void) { return fastnn_pool.n_helpers; }
    """
    ctypedef void (*fastnn_task_fn)(void *ctx, Py_ssize_t task, int slot) noexcept nogil
    void fastnn_run(fastnn_task_fn fn, void *ctx, Py_ssize_t n_tasks, int n_threads) noexcept nogil
    void fastnn_pool_set_spin(double microseconds) noexcept nogil
    double fastnn_pool_spin() noexcept nogil
    int fastnn_pool_helpers() noexcept nogil
