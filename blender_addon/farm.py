"""A .blend shot split over a render farm (docs/farm.md): motion step, frame-range chunks, assemble.

* motion: uploads the inputs and runs the job's prepare + motion + emotion once (``stage: motion``),
  so the server's stage cache holds them; writes ``<out>/eamm_farm_job.json`` (the job key and its 25 fps
  range) and, when the folder held another job's frames, removes them (only this step does).
* render chunk: scene frames ``first..last`` (inclusive) → the 25 fps frames they own
  (:func:`timing.chunk_model_range`), rendered as one server job and unpacked into ``<out>/frames``
  beside the other chunks' frames (nothing deleted, the .blend not saved); then
  ``<out>/chunks/<first>-<last>.json``.
* assemble: every frame of the job on disk → the job record Import reads, the strip, one save.

The curves keyed in the .blend are the job's: every step samples them over the whole sound, so all
chunks send the same strength and pose arrays and share the cached motion.

Headless only (render.py under ``blender -b``, where nothing else runs): these steps block while they
upload, poll and download, as render.py's loop does.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from . import blend, jobs, timing, worker
from .client import Client, ClientError
from .state import (
    FINAL_STATES,
    RECORD_NAME,
    AddonError,
    JobRecord,
    extract_frames,
    frames_on_disk,
    status_line,
)

JOB_FILE = "eamm_farm_job.json"  # not the CLI's OUT/job.json, which has another format
CHUNKS_DIR = "chunks"
_RANGE_FIELDS = ("frame_start", "frame_end", "outputs", "stage")


def job_key(job: dict) -> str:
    """What makes two jobs' frames the same: the request without its frame range and outputs
    (upload ids are content hashes, so the key is the same whichever server a worker uses)."""
    kept = {k: v for k, v in job.items() if k not in _RANGE_FIELDS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _build(scene, client: Client) -> tuple[dict, JobRecord, Path]:
    """The job JSON with upload ids (the add-on's own upload code), its record and output folder."""
    spec = jobs.prepare(scene, client)
    flow = worker.Flow(client, spec)  # used for its upload and build steps only, on this thread
    try:
        job = flow._build()
    except ClientError as exc:
        if exc.kind != "input" or "upload" not in exc.message.lower():
            raise
        worker._UPLOADS.clear()  # the server forgot the uploads (a fresh server): send them again
        job = flow._build()
    return job, flow.record, spec.out_dir


def _run_server_job(client: Client, job: dict, log, timeout: float | None, interval: float = 0.5) -> dict:
    """Submit ``job`` and poll until it ends; its final status (raises unless done)."""
    status = client.submit(job)
    log(f"EAMM: job {status['id']} ({job.get('stage', 'all')}) submitted to {client.base_url}")
    started, last = time.monotonic(), None
    while status.get("state") not in FINAL_STATES:
        if timeout is not None and time.monotonic() - started > timeout:
            raise AddonError(f"job {status['id']} did not finish within {timeout:.0f} s", "timeout")
        time.sleep(interval)
        status = client.status(status["id"])
        line = status_line(status)
        if line != last:
            log(f"EAMM: {line}")
            last = line
    if status["state"] != "done":
        raise AddonError(f"job {status['id']} {status_line(status)}", "job")
    return status


def _clear_other_job(out_dir: Path, key: str, log) -> None:
    """Remove the frames and chunk records of another job (the motion step's privilege)."""
    old = _read_json(out_dir / JOB_FILE)
    record = JobRecord.load(out_dir)
    if old is not None and old.get("key") == key:
        return
    if old is None and record is None:
        return
    removed = 0
    frames_dir = out_dir / "frames"
    for path in frames_dir.glob("frame_*.png") if frames_dir.is_dir() else ():
        path.unlink()
        removed += 1
    for path in (out_dir / CHUNKS_DIR).glob("*.json") if (out_dir / CHUNKS_DIR).is_dir() else ():
        path.unlink()
    (out_dir / RECORD_NAME).unlink(missing_ok=True)  # Import must not pair the old record with new frames
    log(f"EAMM: removed {removed} frames of another job from {frames_dir}")


def run_motion(scene, client: Client, log=print, timeout: float | None = None) -> dict:
    """The farm's first step: cache the job's motion on the server and claim the output folder."""
    job, record, out_dir = _build(scene, client)
    key = job_key(job)
    _run_server_job(client, {**job, "stage": "motion", "outputs": []}, log, timeout)
    _clear_other_job(out_dir, key, log)
    info = {"key": key, "model_start": record.model_start, "model_end": record.model_end,
            "audio_strip": record.audio_strip, "server_url": client.base_url}
    _write_json(out_dir / JOB_FILE, info)
    scene.eamm.message = f"motion cached for frames {record.model_start}..{record.model_end - 1} (25 fps)"
    return info


def chunk_range(scene, record: JobRecord, first: int, last: int) -> range:
    place = blend.placement(scene, blend.audio_strip(scene, scene.eamm))
    return timing.chunk_model_range(place, record.model_start, record.model_end, first, last)


def run_chunk(scene, client: Client, first: int, last: int, log=print, timeout: float | None = None) -> range:
    """Render scene frames ``first..last`` (inclusive) into the shared output folder; the model frames."""
    if last < first:
        raise AddonError(f"frame range {first}..{last} is empty: the end frame must not be before the start")
    job, record, out_dir = _build(scene, client)
    key = job_key(job)
    claimed = _read_json(out_dir / JOB_FILE)
    if claimed is not None and claimed.get("key") != key:
        raise AddonError(f"{out_dir / JOB_FILE} belongs to another job (the .blend's settings or curves changed "
                         "since the motion step): run the whole farm job again")
    wanted = chunk_range(scene, record, first, last)
    chunk_file = out_dir / CHUNKS_DIR / f"{first}-{last}.json"
    frames_dir = out_dir / "frames"
    if not wanted:
        log(f"EAMM: scene frames {first}..{last} show no part of the sound strip: nothing to render")
    elif not set(wanted) <= set(frames_on_disk(frames_dir)) or (_read_json(chunk_file) or {}).get("key") != key:
        chunk_job = {**job, "frame_start": wanted.start, "frame_end": wanted.stop, "outputs": ["frames"],
                     "stage": "render"}
        status = _run_server_job(client, chunk_job, log, timeout)
        zip_path = client.frames_zip(status["id"], out_dir / CHUNKS_DIR / f"{first}-{last}.zip",
                                     wanted.start, wanted.stop)
        got = extract_frames(zip_path, frames_dir, wanted, retry="run the chunk again")
        zip_path.unlink()
        if got != list(wanted):
            raise AddonError(f"job {status['id']} returned {len(got)} of the {len(wanted)} frames "
                             f"{wanted.start}..{wanted.stop - 1}: run the chunk again")
    else:
        log(f"EAMM: frames {wanted.start}..{wanted.stop - 1} are already there")
    _write_json(chunk_file, {"key": key, "scene_frames": [first, last], "model_start": wanted.start,
                             "model_end": wanted.stop, "job_model_start": record.model_start,
                             "job_model_end": record.model_end})
    scene.eamm.message = f"rendered frames {wanted.start}..{wanted.stop - 1} (25 fps) of scene frames {first}..{last}"
    return wanted


def assemble(scene):
    """The farm's last step: check that every frame is there, record the job, import the strip."""
    out_dir = blend.output_dir(scene)
    info = _read_json(out_dir / JOB_FILE)
    if info is None:
        raise AddonError(f"no {JOB_FILE} in {out_dir}: run the motion step and the chunks first")
    start, end = int(info["model_start"]), int(info["model_end"])
    on_disk = set(frames_on_disk(out_dir / "frames"))
    missing = [k for k in range(start, end) if k not in on_disk]
    if missing:
        shown = ", ".join(str(k) for k in missing[:5]) + (" …" if len(missing) > 5 else "")
        raise AddonError(f"{len(missing)} of the job's {end - start} frames are missing in {out_dir / 'frames'} "
                         f"(25 fps frames {shown}): render the chunks that cover them again", "job")
    job_id = f"farm_{info['key'][:20]}"
    JobRecord(job_id, info.get("server_url", ""), start, end, info["audio_strip"],
              list(range(start, end))).save(out_dir)
    scene.eamm.job_id = job_id
    scene.eamm.job_state = "done"
    return jobs.import_result(scene)
