"""Headless EAMM job for render farms: run the scene's job, import the strip, save the .blend.

    blender -b shot.blend --python-exit-code 1 --python <addon>/render.py -- [--server URL] [--out DIR]
    python render.py shot.blend [--server URL] [--out DIR]        # with the bpy module

On a farm the job is split (docs/farm.md): ``--stage motion`` once, then ``--stage render
--frame-start A --frame-end B`` per chunk of scene frames (neither deletes frames nor saves the
.blend), then ``--stage assemble`` (checks every frame, imports the strip, saves the .blend once).

Polls in a blocking loop (``bpy.app.timers`` never fire under ``-b``) and prints one line per change.
Exit status: 0 done, 1 the job failed or was cancelled, 2 bad settings or input, 3 server unreachable
or wrong token.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_JOB, EXIT_INPUT, EXIT_SERVER = 0, 1, 2, 3
EXTENSION_ID = "eamm_talking_faces"  # blender_manifest.toml id
STAGES = ("all", "motion", "render", "assemble")


def parse_args(argv: list[str]) -> argparse.Namespace:
    args = argv[argv.index("--") + 1:] if "--" in argv else argv[1:]
    p = argparse.ArgumentParser(prog="render.py", description="Run the scene's EAMM job and import the strip.")
    p.add_argument("blend", nargs="?", help="the .blend to open (with the bpy module; blender -b opens it itself)")
    p.add_argument("--server", help="eamm-server URL (default: $EAMM_SERVER_URL, the preferences, or 127.0.0.1:8765)")
    p.add_argument("--token", help="server token (default: the server's token file)")
    p.add_argument("--out", help="output folder for the frames (default: the scene's output folder)")
    p.add_argument("--scene", help="scene name (default: the active scene)")
    p.add_argument("--start-server", action="store_true", help="start eamm-server for this job and stop it after")
    p.add_argument("--server-cache", help="with --start-server: the server's stage cache folder (a shared one "
                   "lets every farm worker reuse the motion step)")
    p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    p.add_argument("--no-save", action="store_true", help="do not save the .blend")
    p.add_argument("--stage", choices=STAGES, default="all",
                   help="all: the whole job in one go (default); motion, render (a chunk), assemble: farm steps")
    p.add_argument("--frame-start", type=int, help="render stage: first scene frame of the chunk")
    p.add_argument("--frame-end", type=int, help="render stage: last scene frame of the chunk (inclusive)")
    p.add_argument("--frame-count", type=int, help="render stage: the chunk's length, instead of --frame-end")
    opts = p.parse_args(args)
    if opts.frame_count is not None:
        if opts.frame_end is not None or opts.frame_start is None or opts.frame_count < 1:
            p.error("--frame-count needs --frame-start, a count of 1 or more, and no --frame-end")
        opts.frame_end = opts.frame_start + opts.frame_count - 1
    if (opts.frame_start is None) != (opts.frame_end is None) or (opts.frame_start is not None and opts.stage != "render"):
        p.error("a frame range needs --frame-start with --frame-end or --frame-count, and --stage render")
    return opts


def load_addon() -> dict:
    """The add-on's modules: the enabled extension's when Blender has it (its preferences apply), else
    those of the folder this script lives in, registered for the run (``mods["unregister"]`` undoes
    it: the bpy 4.5 module hangs at exit with classes still registered)."""
    import bpy

    here = Path(__file__).resolve().parent
    names = ("blend", "bundled", "client", "farm", "jobs", "operators", "preferences", "state", "worker")
    suffixes = (f".{here.name}", f".{EXTENSION_ID}")
    enabled = [m for m in sys.modules if m.startswith("bl_ext.") and m.endswith(suffixes)]
    package = enabled[0] if enabled and hasattr(bpy.types.Scene, "eamm") else here.name
    if package == here.name and str(here.parent) not in sys.path:
        sys.path.insert(0, str(here.parent))
    pkg = importlib.import_module(package)
    mods = {name: importlib.import_module(f"{package}.{name}") for name in names}
    mods["unregister"] = lambda: None
    if not hasattr(bpy.types.Scene, "eamm"):
        pkg.register()
        mods["unregister"] = pkg.unregister
    return mods


def run(opts: argparse.Namespace, log=print) -> int:
    import bpy

    if opts.blend:
        bpy.ops.wm.open_mainfile(filepath=str(Path(opts.blend).resolve()))
    mods = load_addon()
    try:
        return run_job(opts, mods, log)
    finally:
        mods["unregister"]()


SERVER_KINDS = ("not_running", "token", "host", "timeout", "protocol", "lost")


def run_job(opts: argparse.Namespace, mods: dict, log) -> int:
    """The blocking part: the add-on's own worker Flow, drained by jobs.run_blocking (no timers here)."""
    import bpy

    jobs, state, client_mod, worker = mods["jobs"], mods["state"], mods["client"], mods["worker"]
    scene = bpy.data.scenes[opts.scene] if opts.scene else bpy.context.scene
    if opts.out:
        scene.eamm.output_dir = str(Path(opts.out).resolve())
    prefs = mods["preferences"].get()
    # on a farm the environment names the server (an OpenJD session's own server sets these)
    url = opts.server or os.environ.get("EAMM_SERVER_URL") or prefs.server_url
    client = client_mod.Client(url, token=opts.token or os.environ.get("EAMM_TOKEN") or prefs.token or None)
    if opts.server_cache:  # read by eamm-server as its --cache default
        os.environ["EAMM_SERVER_CACHE"] = str(Path(opts.server_cache).resolve())
    started = False
    try:
        if opts.start_server and opts.stage != "assemble":  # assembling needs no server
            if mods["preferences"].bundled_in_use(prefs):
                mods["bundled"].ensure(mods["preferences"].setup_dir())
            worker.start_server(jobs.launch_args(prefs, client.base_url))
            started = True
            jobs.wait_for_server(client, 60.0)
        run_stage(opts, scene, client, mods, log)
    except client_mod.ClientError as exc:
        log(f"EAMM: error: {exc}")
        return EXIT_SERVER if exc.kind in SERVER_KINDS else EXIT_INPUT
    except state.AddonError as exc:
        log(f"EAMM: error: {exc}")
        if exc.kind in ("not_running",):  # e.g. the Server URL is not on this computer (--start-server)
            return EXIT_SERVER
        return EXIT_JOB if exc.kind in ("job", "timeout") else EXIT_INPUT
    finally:
        if started:
            worker.stop_server(wait=10.0)
    log(f"EAMM: {scene.eamm.message}")
    if not opts.no_save and opts.stage in ("all", "assemble"):  # motion and chunks never save the .blend
        if not bpy.data.filepath:
            log("EAMM: error: the .blend has no file name, so it was not saved")
            return EXIT_INPUT
        bpy.ops.wm.save_mainfile()
        log(f"EAMM: saved {bpy.data.filepath}")
    return EXIT_OK


def run_stage(opts: argparse.Namespace, scene, client, mods: dict, log) -> None:
    farm = mods["farm"]
    if opts.stage == "all":
        mods["jobs"].run_blocking(scene, client, log=log, timeout=opts.timeout)
    elif opts.stage == "motion":
        farm.run_motion(scene, client, log=log, timeout=opts.timeout)
    elif opts.stage == "render":
        if opts.frame_start is None:  # no range: the whole sound strip as one chunk
            place = mods["blend"].placement(scene, mods["blend"].audio_strip(scene, scene.eamm))
            opts.frame_start, opts.frame_end = place.visible_start, place.visible_end - 1
        farm.run_chunk(scene, client, opts.frame_start, opts.frame_end, log=log, timeout=opts.timeout)
    else:
        farm.assemble(scene)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(sys.argv if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
