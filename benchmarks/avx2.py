"""Run another benchmark as an AVX2-only machine would, on an AVX-512 one.

    python benchmarks/avx2.py cnn.py --network keras batchnorm --samples 10000
    python benchmarks/avx2.py rnn.py

Each library is limited by its own documented switch before it loads: OpenBLAS's kernels to Haswell's
(``OPENBLAS_CORETYPE``, fastnn's products and NumPy's), PyTorch's to AVX2 (``ATEN_CPU_CAPABILITY`` for its own
loops, ``ONEDNN_MAX_CPU_ISA`` for oneDNN's convolutions and recurrent layers, ``MKL_ENABLE_INSTRUCTIONS`` for
MKL's products), fastnn's recurrent layers call BLAS instead of their AVX-512 per-step products, and its
convolutions and 2 x 2 max-pooling run their AVX2 kernels. What this cannot limit: fastnn's loops built for
x86-64-v4 (the recurrent cells, dropout's masks, ReLU, the convolution's bias add, the bias gradients' sums, the
SGD and RMSprop updates) still pick their AVX-512 build, and the cores, caches and clock are this machine's. The figures approximate an AVX2 machine
of the same cores; they are not a measurement of one.
"""
import os
import runpy
import sys

LIMITS = {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
          "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def main(argv):
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return
    if not argv or not argv[0].endswith(".py"):
        sys.exit("usage: python benchmarks/avx2.py SCRIPT.py [its arguments]")
    here = os.path.dirname(os.path.abspath(__file__))
    script = argv[0] if os.path.exists(argv[0]) else os.path.join(here, argv[0])
    if not os.path.isfile(script):
        sys.exit(f"avx2.py: no benchmark script {argv[0]!r} here or in {here}")
    os.environ.update(LIMITS)  # before NumPy, fastnn or PyTorch loads its libraries
    from fastnn import _kernels

    _kernels.recurrent_panels(False)
    _kernels.direct_conv("avx2")
    print("limited to AVX2: " + ", ".join(f"{k}={v}" for k, v in LIMITS.items())
          + "; fastnn's recurrent steps through BLAS, its convolutions and max-pooling by its AVX2 kernels",
          flush=True)
    sys.argv = [script] + argv[1:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
