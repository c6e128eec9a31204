"""Stand-in for the ``blender`` executable in the farm tests: the bpy module's Python runs the
``--python`` script instead of Blender (``blender -b -y X.blend --python-exit-code 1 --python S -- ARGS``
becomes ``python S X.blend ARGS``; render.py opens the .blend itself under the bpy module).

``write_standin(folder)`` writes an executable ``blender`` there whose interpreter is this Python.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def translate(argv: list[str]) -> list[str]:
    before, after = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    script, blend, i = None, None, 0
    while i < len(before):
        arg = before[i]
        if arg in ("-b", "--background", "-y", "--enable-autoexec"):
            i += 1
        elif arg in ("--python-exit-code", "--python"):
            if arg == "--python":
                script = before[i + 1]
            i += 2
        elif arg.startswith("-"):
            raise SystemExit(f"blender stand-in: option {arg} is not handled")
        else:
            blend = arg
            i += 1
    if script is None or blend is None:
        raise SystemExit(f"blender stand-in: needs a .blend and --python SCRIPT, got {argv}")
    return [sys.executable, script, blend, *after]


def write_standin(folder: Path) -> Path:
    path = Path(folder) / "blender"
    path.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                    "import os, blender_standin\nargs = blender_standin.translate(sys.argv[1:])\n"
                    "sys.stdout.flush()\nos.execv(args[0], args)\n", encoding="utf-8")
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    args = translate(sys.argv[1:])
    os.execv(args[0], args)
