"""Process-wide settings an ``eamm`` process applies at start, before numpy is imported.

numpy's BLAS (OpenBLAS in the numpy wheels) only ever sees small matrices in this project
(landmark fits, 68x2 and 3x3 solves), far below the sizes it splits over threads; yet after any call
its idle worker threads busy-wait for a while, taking CPU from the PNG writer and ffmpeg running
beside the render (docs/benchmarks.md, landmark_speed). The neural engine's torch keeps its
own thread pool and is not affected. A value the user set is kept.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

#: environment variables read by numpy's BLAS when numpy is first imported
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS",)


def single_thread_blas(env: MutableMapping[str, str] | None = None) -> None:
    """One BLAS thread for this process (``env`` None) or for a child's environment ``env``,
    unless already set. Effective only before numpy is imported in that process."""
    target = os.environ if env is None else env
    for var in BLAS_THREAD_VARS:
        target.setdefault(var, "1")
