"""One job from the scene's settings to an image strip, on the main thread's side.

:func:`prepare` reads the scene into a :class:`worker.JobSpec`; a :class:`worker.Flow` does the network
work on its own thread; :func:`finish` writes each of its events into the scene and imports the strip.
The operators drain the events in a timer; render.py in :func:`run_blocking` (``bpy.app.timers`` never
fire under ``blender -b``).
"""

from __future__ import annotations

import os
import queue
import time
import urllib.parse
from pathlib import Path

from . import blend, timing, worker
from .client import DEFAULT_URL, Client
from .preferences import get as get_prefs
from .properties import POSE_PROPS
from .state import FINAL_STATES, AddonError, JobRecord, status_line

ACTIVE_STATES = ("starting", "uploading", "submitting", "queued", "running", "downloading")
LOCAL_STATES = ("starting", "uploading", "submitting", "downloading")  # only while a Flow runs


def make_client(context=None, url: str | None = None) -> Client:
    prefs = get_prefs(context)
    return Client(url or prefs.server_url, token=prefs.token or None)


def prepare(scene, client: Client, start_args: list[str] | None = None,
            down_message: str | None = None) -> worker.JobSpec:
    """Read what the job needs from the scene (main thread; no network): files, range, sampled curves."""
    s = scene.eamm
    out_dir = blend.output_dir(scene)
    strip = blend.audio_strip(scene, s)
    place = blend.placement(scene, strip)
    rng = timing.model_range(place)
    audio = blend.sound_file(strip)
    portrait = blend.portrait_file(scene, out_dir)
    emotion = None
    if s.emotion_source == "FILE":
        emotion = Path(blend.abspath(s.emotion_path))
        if not s.emotion_path or not emotion.is_file():
            raise AddonError(f"emotion clip {s.emotion_path or '(none)'} does not exist: choose a video or .npz preset")
    # per-frame arrays are indexed from the sound file's first 25 fps frame, also for a trimmed strip;
    # the worker cuts them at the sound file's own length once the server has measured it
    curves = blend.sample_settings(scene, timing.sample_frames(place, 0, rng.end))
    job = {
        "emotion": None, "emotion_preset": s.emotion_preset if s.emotion_source == "PRESET" else None,
        "emotion_neutral": None, "pose": None, "pose_file": None,
        "engine": s.engine, "model": s.model or None, "landmarks": s.landmarks, "seed": int(s.seed), "frame_start": rng.start,
        "paste_back": bool(s.paste_back), "size": str(s.size), "blink": bool(s.blink), "idle_motion": bool(s.idle_motion),
        "transcript": None, "outputs": ["frames"],
    }
    return worker.JobSpec(client.base_url, client.token, out_dir, audio, portrait, emotion, job, curves,
                          POSE_PROPS if s.use_pose else (), rng.start, rng.end, strip.name, place, start_args,
                          down_message)


def set_message(scene, text: str, kind: str = "") -> None:
    scene.eamm.message = text
    scene.eamm.message_kind = kind


def apply_event(scene, kind: str, payload: dict) -> str | None:
    """Write one worker event into the scene's settings (main thread). Returns "downloaded", "error",
    "final" when the flow has ended, else None."""
    s = scene.eamm
    if kind in ("progress", "status", "submitted"):
        if kind == "submitted":
            s.job_id = payload["job_id"]
            set_message(scene, "")
        s.job_state = payload["state"]
        s.status = payload["line"]
        s.progress = payload["progress"]
        return "final" if kind == "status" and s.job_state in FINAL_STATES and s.job_state != "done" else None
    if kind == "downloaded":
        return "downloaded"
    if kind == "error":
        exc = payload["error"]
        if s.job_state == "downloading":
            s.job_state = "done"  # the job is done on the server: Import downloads it again
        elif exc.kind == "lost":
            s.job_state = "unreachable"
        elif s.job_state in LOCAL_STATES:
            s.job_state = ""
        s.status = s.status if s.job_id else ""
        set_message(scene, str(exc), exc.kind)
        return "error"
    return None


def import_result(scene, mapped: worker.StripMap | None = None):
    """Put the downloaded frames in as an image strip in sync with the sound strip (main thread).

    ``mapped``: the frame map the worker worked out for the sound strip's place when the job started;
    used when the strip has not moved since (the exact maths takes ~0.1 s for a 30 s shot)."""
    out_dir = blend.output_dir(scene)
    record = JobRecord.load(out_dir)
    if record is None or (scene.eamm.job_id and record.job_id != scene.eamm.job_id):
        raise AddonError(f"no finished job recorded in {out_dir}: press Generate first")
    frames_dir = out_dir / "frames"
    audio = blend.audio_strip(scene, scene.eamm)
    place = blend.placement(scene, audio)
    if mapped is None or mapped.placement != place:
        mapped = worker.strip_map(place, frames_dir, record)
    mapping, held, available = mapped.mapping, mapped.held, mapped.available
    channel = scene.eamm.channel or blend.free_channel(scene, place.visible_start, place.visible_end, audio.channel + 1)
    strip = blend.import_image_strip(scene, frames_dir, mapping, place.visible_start, channel)
    set_message(scene, f"imported {available.stop - available.start} frames as strip '{strip.name}' on channel "
                f"{channel}" + (f" ({held} scene frames hold the nearest frame)" if held > 1 else ""), "INFO")
    return strip


def finish(scene, kind: str, payload: dict) -> bool:
    """apply_event, then import the strip once the frames are down; True when the flow has ended."""
    ended = apply_event(scene, kind, payload)
    if ended == "downloaded":
        import_result(scene, payload.get("mapped"))
        scene.eamm.job_state, scene.eamm.progress = "done", 1.0
        scene.eamm.status = "done"
    return ended is not None


def resume_flow(scene, client: Client) -> worker.Flow:
    """A Flow that polls the scene's recorded job and downloads it when done (Import, Check server)."""
    out_dir = blend.output_dir(scene)
    record = JobRecord.load(out_dir)
    if record is None or not record.job_id or (scene.eamm.job_id and record.job_id != scene.eamm.job_id):
        raise AddonError(f"no job recorded in {out_dir}: press Generate first")
    try:
        place = blend.placement(scene, blend.audio_strip(scene, scene.eamm))
    except AddonError:
        place = None  # Import says what is wrong once the frames are down
    return worker.Flow(client, record=record, out_dir=out_dir, placement=place)


def run_blocking(scene, client: Client, log=print, interval: float = 0.2, timeout: float | None = None,
                 flow: worker.Flow | None = None):
    """Headless: the same worker Flow, drained by a blocking loop (timers never fire under ``blender -b``).
    Prints one line per status change; imports the strip; raises ClientError/AddonError on failure."""
    flow = flow or worker.Flow(client, prepare(scene, client))
    flow.start()
    started, last, submitted = time.monotonic(), None, False
    try:
        while True:
            if timeout is not None and time.monotonic() - started > timeout:
                raise AddonError(f"job {scene.eamm.job_id or '(not submitted)'} did not finish within "
                                 f"{timeout:.0f} s", "timeout")
            try:
                token, kind, payload = worker.EVENTS.get(timeout=interval)
            except queue.Empty:
                continue
            if token != flow.token:
                continue  # left over from an abandoned flow
            if kind == "submitted" and not submitted:
                submitted = True
                log(f"EAMM: job {payload['job_id']} submitted to {client.base_url}")
            if kind == "error":
                raise payload["error"]
            ended = finish(scene, kind, payload)
            line = status_line(payload["status"]) if "status" in payload else None
            if line and line != last:
                log(f"EAMM: {line}")
                last = line
            if ended:
                break
    finally:
        flow.cancel() if flow.is_alive() and scene.eamm.job_state != "done" else None
    if scene.eamm.job_state != "done":
        raise AddonError(f"job {scene.eamm.job_id} {scene.eamm.status}", "job")
    return next(s for s in blend.strips(scene) if s.name == blend.STRIP_NAME)


def wait_for_server(client: Client, seconds: float) -> dict:
    """Poll /health until the server answers (headless, after starting it)."""
    return worker.wait_for_server(client, seconds, worker.server_process())


def server_args(prefs, url: str | None = None) -> list[str]:
    """The argument list that starts eamm-server from the preferences (never a shell string).

    With *Server Python* the server listens on the port of ``url`` (default: the preferences' URL);
    a *Server command* is taken as written.
    """
    import shlex
    import urllib.parse

    from . import bundled, preferences

    if preferences.bundled_in_use(prefs):
        return bundled.server_args(preferences.setup_dir())
    if prefs.server_python:
        port = urllib.parse.urlsplit(url or prefs.server_url or DEFAULT_URL).port or 8765
        return [blend.abspath(prefs.server_python), "-m", "server.main", "--port", str(port)]
    args = shlex.split(prefs.server_command or "eamm-server", posix=os.name != "nt")
    if not args:
        raise AddonError("the server command in the add-on preferences is empty: set it to `eamm-server`")
    return args


def _is_default_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    default = urllib.parse.urlsplit(DEFAULT_URL)
    return (parts.scheme, parts.hostname in ("127.0.0.1", "localhost"), parts.port or 80) == \
        (default.scheme, True, default.port)


def launch_args(prefs, url: str, automatic: bool = False) -> list[str]:
    """:func:`server_args` for a server on ``url``'s own port, told to watch its stdin (it stops when
    Blender goes). An automatic start happens only for the default local URL: any other URL (a tunnel,
    another machine) must say that it is down rather than get a local server in its place."""
    parts = urllib.parse.urlsplit(url)
    if automatic and not _is_default_url(url):
        raise AddonError(f"eamm-server is not answering at {url}: start it there (or open the SSH tunnel); "
                         f"the add-on starts a server itself only for {DEFAULT_URL}", "not_running")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise AddonError(f"the Server URL {url} is not on this computer: start eamm-server on that machine",
                         "not_running")
    port = str(parts.port or 80)
    args = server_args(prefs, url)
    if "--port" in args[:-1]:
        given = args[args.index("--port") + 1]
        if given != port:
            raise AddonError(f"the server command listens on port {given} but the Server URL {url} uses {port}: "
                             "make them the same in the add-on preferences", "input")
    else:
        args += ["--port", port]
    return args + ["--watch-stdin"]
