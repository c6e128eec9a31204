"""Run a Flamenco job type's compileJob under node (flamenco_standin.js) and turn its blender-render
commands into the command lines a Flamenco worker runs. Standard library only: used by the main
environment's tests and by the bpy ones."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

STANDIN = Path(__file__).with_name("flamenco_standin.js")


def node() -> str | None:
    return shutil.which("node")


def compile_job(script: Path, settings: dict) -> subprocess.CompletedProcess:
    return subprocess.run([node(), str(STANDIN), str(script), json.dumps(settings)], capture_output=True, text=True,
                          timeout=60)


def command_line(command: dict, variables: dict) -> list[str]:
    """What a Flamenco worker runs for a blender-render command: exe, exeArgs, argsBefore, blendfile, args."""
    p = command["parameters"]
    exe = p["exe"].format(**variables)
    return [exe, *shlex.split(p["exeArgs"].format(**variables)), *p["argsBefore"], p["blendfile"], *p["args"]]
