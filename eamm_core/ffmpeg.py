"""Where the ffmpeg binary is: the one imageio-ffmpeg ships (no system ffmpeg needed).

``imageio_ffmpeg.get_ffmpeg_exe()`` gives the same answer but costs start-up time in every process
(importing ``imageio_ffmpeg`` pulls in ``importlib.metadata`` and ``decimal``, and it runs
``ffmpeg -version`` to validate the binary), a visible share of an emotion-strength-only rerun. So the bundled binary is
looked up directly and the package is only asked when that fails.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

#: the environment variable imageio-ffmpeg reads for an explicit ffmpeg (honoured first, as there)
ENV_VAR = "IMAGEIO_FFMPEG_EXE"


def ffmpeg_exe() -> str:
    """The ffmpeg to run: ``$IMAGEIO_FFMPEG_EXE`` if set, else the binary in imageio-ffmpeg's
    ``binaries`` folder, else whatever ``imageio_ffmpeg.get_ffmpeg_exe()`` finds (conda, system)."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return explicit
    return _located()


@functools.lru_cache(maxsize=1)
def _located() -> str:
    bundled = bundled_binary()
    if bundled is not None:
        return str(bundled)
    import imageio_ffmpeg  # raises RuntimeError with its own explanation when there is none

    return imageio_ffmpeg.get_ffmpeg_exe()


def bundled_binary(package_dir: Path | None = None) -> Path | None:
    """The executable ``ffmpeg-*`` file in imageio-ffmpeg's ``binaries`` folder (``package_dir``:
    that package's folder, default found without importing it), or None."""
    if package_dir is None:
        spec = importlib.util.find_spec("imageio_ffmpeg")
        if spec is None or not spec.submodule_search_locations:
            return None
        package_dir = Path(next(iter(spec.submodule_search_locations)))
    folder = Path(package_dir) / "binaries"
    try:
        candidates = sorted(p for p in folder.iterdir() if p.name.startswith("ffmpeg"))
    except OSError:
        return None
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None
