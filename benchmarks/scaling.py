"""How far one training step can spread over many cores: the tiles fastnn splits a step into, by phase, and the
speed-up they allow at 4 to 32 threads.

    python benchmarks/scaling.py [--widths 784 512 512 10] [--batch 128] [--cores 2 4 8 16 32]

fastnn fixes its tiling by the shapes and the machine's core count (never by ``n_threads``), so results are the
same for every thread count on a machine. This machine has few cores, so the large machines are simulated: for
each core count C the engine is built as it would be on a C-core machine, and each phase's tasks are scheduled
on C threads, largest first (what OpenMP's dynamic schedule approximates; the column and row tiles of a
product use a static schedule over equal tiles). The table prints, per phase, the number of independent tasks,
the largest task (the phase's critical path) and the phase's speed-up bound; the last line gives the whole
step's bound: total multiply-adds over the sum of the phases' makespans. Synchronisation and memory bandwidth
are not modelled: the figures are upper bounds on what the split allows, not predictions.
"""
import argparse
import heapq

import numpy as np

import fastnn
from fastnn import _kernels


def makespan(tasks, threads):
    """Longest thread's work when ``tasks`` are handed, largest first, to the least-loaded of ``threads``."""
    loads = [0] * threads
    for work in sorted(tasks, reverse=True):
        heapq.heapreplace(loads, loads[0] + work)
    return max(loads)


def plan(widths, batch, cores):
    params = np.zeros(sum(b * (a + 1) for a, b in zip(widths[:-1], widths[1:])), np.float32)
    acts = [_kernels.ACT_RELU] * (len(widths) - 2) + [_kernels.ACT_SOFTMAX]
    engine = _kernels.Engine(params, params.copy(), params[None].copy(), widths, acts, _kernels.LOSS_CROSS_ENTROPY,
                             batch, cores=cores)
    return engine.plan(batch)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[784, 512, 512, 10])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    args = parser.parse_args(argv)
    print(f"fastnn {fastnn.__version__}: a training step of {'-'.join(map(str, args.widths))} at batch "
          f"{args.batch}; tiles as built on a machine of C cores, scheduled on C threads")
    summary = []
    for cores in args.cores:
        phases = plan(args.widths, args.batch, cores)
        print(f"\nC = {cores}")
        print(f"{'phase':<30}{'tasks':>7}{'multiply-adds':>16}{'largest task':>15}{'speed-up':>10}")
        total = span = 0
        for name, tasks in phases:
            m = makespan(tasks, cores)
            total += sum(tasks)
            span += m
            print(f"{name:<30}{len(tasks):>7}{sum(tasks):>16,}{max(tasks):>15,}{sum(tasks) / m:>9.2f}x")
        summary.append((cores, total / span))
        print(f"{'whole step':<30}{'':>7}{total:>16,}{'':>15}{total / span:>9.2f}x")
    print("\nspeed-up bound of a whole step: " + ", ".join(f"{c} threads {s:.1f}x" for c, s in summary))
    return summary


if __name__ == "__main__":
    main()
