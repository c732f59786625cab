"""Compiled block reductions for the aligned path: one pass over the data, NaNs skipped, no temporaries.

``numpy``'s NaN-aware reductions make several passes and allocate masks; on the aligned path they were the
largest cost after reading. These kernels are compiled once (and cached on disk) by numba and release the
GIL, so dask threads run them in parallel.
"""

from __future__ import annotations

import numba
import numpy as np

METHOD_CODES = {"mean": 0, "sum": 1, "min": 2, "max": 3, "count": 4}


@numba.njit(nogil=True, cache=True)
def _block_reduce(x: np.ndarray, fy: int, fx: int, code: int) -> np.ndarray:  # pragma: no cover - compiled
    nt, ny, nx = x.shape
    my, mx = ny // fy, nx // fx
    out = np.empty((nt, my, mx), dtype=np.float64)
    for t in range(nt):
        for j in range(my):
            for i in range(mx):
                total = 0.0
                n = 0
                lo = np.inf
                hi = -np.inf
                for jj in range(j * fy, j * fy + fy):
                    for ii in range(i * fx, i * fx + fx):
                        v = x[t, jj, ii]
                        if v == v:  # not NaN
                            total += v
                            n += 1
                            if v < lo:
                                lo = v
                            if v > hi:
                                hi = v
                if code == 4:
                    out[t, j, i] = n
                elif n == 0:
                    out[t, j, i] = np.nan
                elif code == 0:
                    out[t, j, i] = total / n
                elif code == 1:
                    out[t, j, i] = total
                elif code == 2:
                    out[t, j, i] = lo
                else:
                    out[t, j, i] = hi
    return out


def block_reduce(x: np.ndarray, fy: int, fx: int, method: str) -> np.ndarray:
    """Reduce blocks of ``fy`` x ``fx`` cells of ``x`` (``time, y, x``; sizes multiples of the factors).

    Returns ``float32`` for ``count`` and float inputs, ``float64`` otherwise.
    """
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    out = _block_reduce(np.ascontiguousarray(x), fy, fx, METHOD_CODES[method])
    return out.astype(np.float32 if method == "count" or x.dtype == np.float32 else x.dtype)


def warm() -> None:
    """Load the kernel for float32 and float64 input now (from numba's disk cache, or compiled): numba's first call
    in a process costs about 0.25 s (its typing context), which a process that preloads its modules (the warm-start
    zygote) then pays once instead of in every build."""
    for dtype in (np.float32, np.float64):
        block_reduce(np.zeros((1, 1, 1), dtype=dtype), 1, 1, "mean")
