"""One job from the scene's settings to an image strip: build, submit, poll, download, import.

Used by the operators (non-blocking, polled by a timer) and by render.py (a blocking loop, because
``bpy.app.timers`` never fire under ``blender -b``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from . import blend, timing
from .client import DEFAULT_URL, Client, ClientError
from .preferences import get as get_prefs
from .properties import POSE_PROPS
from .state import FINAL_STATES, AddonError, JobRecord, contiguous, extract_frames, frames_on_disk, \
    progress_fraction, status_line

# Upload records by (server, file, size, mtime): generating again re-sends nothing that did not change.
_UPLOADS: dict[tuple, dict] = {}


def make_client(context=None, url: str | None = None) -> Client:
    prefs = get_prefs(context)
    return Client(url or prefs.server_url, token=prefs.token or None)


def _upload(client: Client, path: Path, role: str) -> dict:
    """The server's upload record for ``path`` (``id``, ``info``…), uploading only when it changed."""
    st = path.stat()
    key = (client.base_url, str(path), st.st_size, st.st_mtime_ns, role)
    if key not in _UPLOADS:
        _UPLOADS[key] = client.upload(path, role)
    return _UPLOADS[key]


def _curve_or_number(values: list[float]) -> float | list[float]:
    return values[0] if all(abs(v - values[0]) < 1e-9 for v in values) else [round(v, 6) for v in values]


def build_job(scene, client: Client, out_dir: Path) -> tuple[dict, JobRecord]:
    """Upload the inputs and return the job JSON (docs/server.md) and what Import will need."""
    s = scene.eamm
    strip = blend.audio_strip(scene, s)
    place = blend.placement(scene, strip)
    rng = timing.model_range(place)
    audio = _upload(client, blend.sound_file(strip), "audio")
    available = (audio.get("info") or {}).get("frames")
    end = min(rng.end, int(available)) if isinstance(available, int) and available > 0 else rng.end
    if end <= rng.start:
        raise AddonError(f"sound strip '{strip.name}' shows no part of its sound file: move or trim it")
    # per-frame arrays are indexed from the sound file's first 25 fps frame, also for a trimmed strip
    curves = blend.sample_settings(scene, timing.sample_frames(place, 0, end))
    job = {
        "portrait": _upload(client, blend.portrait_file(scene, out_dir), "portrait")["id"],
        "audio": audio["id"],
        "emotion": None, "emotion_preset": None, "emotion_neutral": None,
        "strength": _curve_or_number(curves["strength"]),
        "pose": None, "pose_file": None,
        "engine": s.engine, "model": s.model or None, "seed": int(s.seed),
        "frame_start": rng.start, "frame_end": end,
        "paste_back": bool(s.paste_back), "blink": bool(s.blink), "idle_motion": bool(s.idle_motion),
        "transcript": None, "outputs": ["frames"],
    }
    if s.emotion_source == "PRESET":
        job["emotion_preset"] = s.emotion_preset
    elif s.emotion_source == "FILE":
        path = Path(blend.abspath(s.emotion_path))
        if not s.emotion_path or not path.is_file():
            raise AddonError(f"emotion clip {s.emotion_path or '(none)'} does not exist: choose a video or .npz preset")
        job["emotion"] = _upload(client, path, "emotion")["id"]
    if s.use_pose:  # artist units (degrees, size multiplier, crop-width offsets): the server converts
        job["pose"] = [list(row) for row in zip(*(curves[p] for p in POSE_PROPS))]
        job["pose_units"] = "artist"
    record = JobRecord("", client.base_url, rng.start, end, strip.name)
    return job, record


def set_message(scene, text: str, kind: str = "") -> None:
    scene.eamm.message = text
    scene.eamm.message_kind = kind


def apply_status(scene, status: dict) -> None:
    s = scene.eamm
    s.job_state = status.get("state", "")
    s.status = status_line(status)
    s.progress = progress_fraction(status)


def submit(scene, client: Client) -> dict:
    """Upload, submit, remember the job on the scene and beside the frames; returns the job status."""
    out_dir = blend.output_dir(scene)
    job, record = build_job(scene, client, out_dir)
    try:
        status = client.submit(job)
    except ClientError as exc:
        if exc.kind != "input" or "upload" not in exc.message.lower():
            raise
        _UPLOADS.clear()  # the server forgot our uploads (restarted with a clean store): send them again
        job, record = build_job(scene, client, out_dir)
        status = client.submit(job)
    record.job_id = status["id"]
    record.save(out_dir)
    scene.eamm.job_id = status["id"]
    apply_status(scene, status)
    set_message(scene, "")
    return status


def poll(scene, client: Client) -> dict:
    status = client.status(scene.eamm.job_id)
    apply_status(scene, status)
    return status


def import_result(scene, client: Client | None = None):
    """Download the finished job's frames (unless already there) and put them in as an image strip."""
    out_dir = blend.output_dir(scene)
    record = JobRecord.load(out_dir)
    if record is None or (scene.eamm.job_id and record.job_id != scene.eamm.job_id):
        raise AddonError(f"no finished job recorded in {out_dir}: press Generate first")
    frames_dir = out_dir / "frames"
    if client is not None:
        _download(client, record, out_dir, frames_dir)
    numbers = [n for n in frames_on_disk(frames_dir) if record.model_start <= n < record.model_end]
    available = contiguous(numbers)
    if not available:
        raise AddonError(f"no frames of job {record.job_id} in {frames_dir}: generate again")
    audio = blend.audio_strip(scene, scene.eamm)
    place = blend.placement(scene, audio)
    mapping = timing.frame_map(place, available)
    channel = scene.eamm.channel or blend.free_channel(scene, place.visible_start, place.visible_end, audio.channel + 1)
    strip = blend.import_image_strip(scene, frames_dir, mapping, place.visible_start, channel)
    held = sum(1 for f in range(place.visible_start, place.visible_end)
               if place.model_frame_at(f) not in available)
    set_message(scene, f"imported {available.stop - available.start} frames as strip '{strip.name}' on channel "
                f"{channel}" + (f" ({held} scene frames hold the nearest frame)" if held > 1 else ""), "INFO")
    return strip


def _download(client: Client, record: JobRecord, out_dir: Path, frames_dir: Path) -> None:
    """Replace the frames on disk with the job's; keeps what is there when the server no longer has it."""
    try:
        zip_path = client.frames_zip(record.job_id, out_dir / "frames.zip")
    except ClientError as exc:
        if exc.status == 404 and frames_on_disk(frames_dir):
            return  # the server forgot the job (cleaned up): the downloaded frames are still good
        raise
    for old in frames_dir.glob("frame_*.png") if frames_dir.is_dir() else ():
        old.unlink()
    record.frames = extract_frames(zip_path, frames_dir)
    zip_path.unlink()
    record.save(out_dir)


def run_blocking(scene, client: Client, log=print, interval: float = 0.5, timeout: float | None = None):
    """Submit, poll until the job ends (printing progress), import the strip; raises on failure."""
    status = submit(scene, client)
    log(f"EAMM: job {status['id']} submitted to {client.base_url}")
    last = None
    started = time.monotonic()
    while status.get("state") not in FINAL_STATES:
        if timeout is not None and time.monotonic() - started > timeout:
            raise AddonError(f"job {status['id']} did not finish within {timeout:.0f} s", "timeout")
        time.sleep(interval)
        status = poll(scene, client)
        line = status_line(status)
        if line != last:
            log(f"EAMM: {line}")
            last = line
    if status["state"] != "done":
        raise AddonError(f"job {status['id']} {status_line(status)}", "job")
    return import_result(scene, client)


def wait_for_server(client: Client, seconds: float) -> dict:
    """Poll /health until the server answers (after starting it); the last error if it never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return client.health()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def server_args(prefs, url: str | None = None) -> list[str]:
    """The argument list that starts eamm-server from the preferences (never a shell string).

    With *Server Python* the server listens on the port of ``url`` (default: the preferences' URL);
    a *Server command* is taken as written.
    """
    import shlex
    import urllib.parse

    if prefs.server_python:
        port = urllib.parse.urlsplit(url or prefs.server_url or DEFAULT_URL).port or 8765
        return [blend.abspath(prefs.server_python), "-m", "server.main", "--port", str(port)]
    args = shlex.split(prefs.server_command or "eamm-server", posix=os.name != "nt")
    if not args:
        raise AddonError("the server command in the add-on preferences is empty: set it to `eamm-server`")
    return args
