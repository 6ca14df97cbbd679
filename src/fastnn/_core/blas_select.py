"""Which BLAS library runs fastnn's matrix products.

The kernels call ``gemm`` through scipy's ``cython_blas`` unless another OpenBLAS loaded in the process is
newer and exports 64-bit-integer (ILP64) ``sgemm``/``dgemm`` - NumPy's wheels bundle one. Then fastnn calls
that one: on a 2-core AMD EPYC (Zen 3), NumPy's OpenBLAS 0.3.31 trained the benchmark networks 12-20% faster
than scipy's 0.3.30. The choice is made once, when fastnn is imported, so every result in a process comes from
the same library; :func:`blas_in_use` reports it. fastnn holds both libraries at one thread while it computes.
"""
import ctypes
import os

from .. import _blas

__all__ = ["select_gemm", "blas_in_use"]

_in_use = {"library": "scipy.linalg.cython_blas", "version": None}

_ILP64_NAMES = (("scipy_sgemm_64_", "scipy_dgemm_64_", "scipy_sgemv_64_", "scipy_dgemv_64_"),
                ("sgemm_64_", "dgemm_64_", "sgemv_64_", "dgemv_64_"), ("sgemm64_", "dgemm64_", "sgemv64_", "dgemv64_"))


def _version(text):
    parts = []
    for p in str(text or "").split("."):
        if not p.isdigit():
            break
        parts.append(int(p))
    return tuple(parts)


def _is_scipys(lib):
    path = lib.filepath.replace(os.sep, "/")
    return "/scipy.libs/" in path or "/scipy/.libs/" in path


def select_gemm(controller, prefer="auto"):
    """Choose the gemm library among those ``controller`` (a ``threadpoolctl.ThreadpoolController``) sees.

    ``prefer='scipy'`` keeps scipy's BLAS; ``'auto'`` takes a newer ILP64 OpenBLAS when one is loaded.
    Returns :func:`blas_in_use`.
    """
    if prefer not in ("auto", "scipy"):
        raise ValueError(f"prefer must be 'auto' or 'scipy', got {prefer!r}")
    _blas._set_ilp64_gemm(0, 0, 0, 0)
    _in_use.update(library="scipy.linalg.cython_blas", version=None)
    libs = [lc for lc in controller.lib_controllers if getattr(lc, "internal_api", None) == "openblas"]
    scipy_libs = [lc for lc in libs if _is_scipys(lc)]
    if scipy_libs:
        _in_use["version"] = scipy_libs[0].version
    if prefer != "auto" or not scipy_libs:
        return blas_in_use()
    base = _version(scipy_libs[0].version)
    for lc in sorted(libs, key=lambda lc: _version(lc.version), reverse=True):
        if _is_scipys(lc) or _version(lc.version) <= base:
            continue
        try:
            dll = ctypes.CDLL(lc.filepath)
        except OSError:
            continue
        for names in _ILP64_NAMES:
            fns = [getattr(dll, name, None) for name in names]
            if all(fn is not None for fn in fns):
                _blas._set_ilp64_gemm(*(ctypes.cast(fn, ctypes.c_void_p).value for fn in fns))
                _in_use.update(library=f"{os.path.basename(lc.filepath)} ({names[0]})", version=lc.version)
                return blas_in_use()
    return blas_in_use()


def blas_in_use():
    """``{'library': ..., 'version': ...}``: the BLAS that fastnn's products go through."""
    return dict(_in_use)
