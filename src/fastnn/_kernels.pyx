# cython: language_level=3
"""Compiled kernels of fastnn: dense layers, activations, fused losses, the optimizer updates and the training
engine, which walks a table of layer kinds: each kind (dense.pxi, conv.pxi, pooling.pxi, recurrent.pxi,
embedding.pxi, batchnorm.pxi, activation.pxi, layernorm.pxi, permute.pxi) fills one row of ``KINDS`` with its
forward, backward, weight-gradient and workspace functions, and each optimizer one row of ``OPTIMIZERS``
(optim.pxi). The module is assembled from the files of ``_engine/``, one concern each, included in order at the end
of this file;
``types.pxi`` holds the network's spec (``Net``), one worker's buffers (``Workspace``) and the rows' types.

The concerns are included ``.pxi`` files of one extension rather than ``.pxd`` headers shared between several:
the kind and optimizer tables are filled when the module loads, their rows point at specialisations of fused
(float/double) functions, and the thread pool is static per extension - all of which wants one compilation
unit.

Everything here trusts its inputs: shapes, dtypes, contiguity, finiteness and label ranges are checked in the
Python layer (``fastnn._core.validation``) before any function of this module is called. ``_reference.py`` holds a
pure-NumPy twin of every kernel; it is the written-down specification and the test oracle.

Conventions
-----------
* Matrices are row-major. A dense layer with ``n_in`` inputs and ``n_out`` outputs has ``W`` of shape
  ``(n_out, n_in)`` and ``b`` of shape ``(n_out,)``; its pre-activation is ``z = x @ W.T + b``.
* Activation derivatives are computed from the activation's *output*, so the backward pass keeps only outputs.
* Losses are means over the batch. Per sample: cross-entropy ``-sum_k t_k log p_k`` with ``p = softmax(z)``;
  binary cross-entropy and mean squared error are means over the output units.
* Work is split into tasks by batch rows (forward, loss and input gradients: every row is independent) and by
  output features (weight gradients and the update: no reduction across threads), fixed by the shapes alone;
  fastnn's thread pool (``_pool.pxd``) runs a step's tasks on the calling thread and its helpers. Every sum is
  computed in one fixed order, so results do not depend on the number of threads.
"""
cimport cython
from cython cimport floating
from libc.math cimport (exp, expf, expm1, expm1f, log, logf, log1p, log1pf, tanh, tanhf, fabs, fabsf, erf, erff,
                        isfinite, NAN, sqrt, sqrtf, cos, floor, pow)
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t, int32_t, uint8_t, uint32_t, uint64_t

import numpy as np

from ._blas cimport gemm, gemv, NoTrans, Trans
from ._conv cimport im2col, col2im, max_pool, max_pool_backward, avg_pool, avg_pool_backward
from ._openmp cimport fastnn_openmp_enabled, fastnn_max_threads
from ._pool cimport fastnn_run, fastnn_pool_set_spin, fastnn_pool_spin, fastnn_pool_helpers

include "_engine/signals.pxi"
include "_engine/codes.pxi"
include "_engine/math.pxi"
include "_engine/activations.pxi"
include "_engine/losses.pxi"
include "_engine/types.pxi"
include "_engine/random.pxi"
include "_engine/optim.pxi"
include "_engine/dense.pxi"
include "_engine/images.pxi"
include "_engine/direct.pxi"
include "_engine/conv.pxi"
include "_engine/pooling.pxi"
include "_engine/cells.pxi"
include "_engine/recurrent.pxi"
include "_engine/embedding.pxi"
include "_engine/batchnorm.pxi"
include "_engine/activation.pxi"
include "_engine/layernorm.pxi"
include "_engine/permute.pxi"
include "_engine/jobs.pxi"
include "_engine/walk.pxi"
include "_engine/tasks.pxi"
include "_engine/loop.pxi"
include "_engine/engine.pxi"
include "_engine/testing.pxi"
include "_engine/dqn.pxi"
