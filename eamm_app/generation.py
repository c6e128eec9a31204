"""One generation at a time: submit the job, follow it, fetch frames as they arrive, download the result.

Everything blocking runs on the :class:`TaskRunner`; a 250 ms ``QTimer`` on the UI thread only
starts a poll when the previous one has answered, so a slow server never piles requests up.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage

from eamm_app.api import FINAL_STATES, ApiClient, ApiError
from eamm_app.media import extract_frames_zip, frame_index
from eamm_app.tasks import TaskRunner

log = logging.getLogger(__name__)
POLL_MS = 250
FRAMES_PER_POLL = 12


@dataclass
class Result:
    job_id: str
    folder: Path
    mp4: Path | None
    frames: list[tuple[int, QImage]]


def fetch_frames(client: ApiClient, job_id: str, indices: list[int]) -> list[tuple[int, QImage]]:
    """Download and decode frames (worker thread; QImage is safe off the UI thread)."""
    out = []
    for n in indices:
        try:
            data = client.frame_png(job_id, n)
        except ApiError as exc:
            if exc.status == 404:
                break  # not on disk yet: the next poll tries again
            raise
        image = QImage.fromData(data, "PNG")
        if not image.isNull():
            out.append((n, image))
    return out


def download_result(client: ApiClient, job_id: str, folder: Path, want_mp4: bool) -> Result:
    """``<folder>/result.mp4`` and ``<folder>/frames/frame_%06d.png`` from the server (worker thread)."""
    folder.mkdir(parents=True, exist_ok=True)
    mp4 = client.download_video(job_id, folder / "result.mp4") if want_mp4 else None
    zpath = client.download_frames_zip(job_id, folder / "frames.zip")
    frames_dir = folder / "frames"
    if frames_dir.exists():
        shutil.rmtree(frames_dir)
    paths = extract_frames_zip(zpath, frames_dir)
    zpath.unlink(missing_ok=True)
    frames = [(frame_index(p), QImage(str(p))) for p in paths]
    return Result(job_id, folder, mp4, frames)


def export_result(folder: Path, dest: Path, *, mp4: bool, pngs: bool) -> list[Path]:
    """Copy a downloaded result into ``dest``: ``<job>.mp4`` and/or ``<job>_frames/``."""
    dest.mkdir(parents=True, exist_ok=True)
    made = []
    if mp4:
        src = folder / "result.mp4"
        if not src.is_file():
            raise ApiError(f"no MP4 in {folder}: generate (with MP4 output) first")
        made.append(Path(shutil.copy2(src, dest / f"{folder.name}.mp4")))
    if pngs:
        target = dest / f"{folder.name}_frames"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(folder / "frames", target)
        made.append(target)
    return made


class JobController(QObject):
    """Follows one job. Signals: ``submitted(status)``, ``status(status)``, ``frame(index, QImage)``,
    ``finished(Result)``, ``ended(status)`` (failed / cancelled / interrupted) and ``error(message)``."""

    submitted = Signal(dict)
    status = Signal(dict)
    frame = Signal(int, QImage)
    finished = Signal(object)
    ended = Signal(dict)
    error = Signal(str)

    def __init__(self, runner: TaskRunner, client_fn, output_dir_fn, parent: QObject | None = None):
        super().__init__(parent)
        self.runner, self.client_fn, self.output_dir_fn = runner, client_fn, output_dir_fn
        self.job_id: str | None = None
        self.last_status: dict = {}
        self._fetched: set[int] = set()
        self._polling = self._fetching = self._ended = self._busy = self._cancel_asked = False
        self._want_mp4 = True
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def active(self) -> bool:
        """From Generate until the job ended (or could not be created)."""
        return self._busy

    def start(self, job: dict) -> None:
        self.job_id, self.last_status, self._fetched, self._ended = None, {}, set(), False
        self._busy, self._cancel_asked = True, False
        self._want_mp4 = "mp4" in job.get("outputs", ["frames", "mp4"])
        self.runner.submit(self.client_fn().create_job, job, on_done=self._created, on_error=self._failed)

    def follow(self, status: dict) -> None:
        """Follow an existing job (e.g. resumed from the queue)."""
        self._busy, self._cancel_asked = True, False
        self._created(status)

    def cancel(self) -> None:
        """Cancel the job (at once if it is known, else as soon as the server has created it)."""
        self._cancel_asked = True
        if self.job_id:
            self.runner.submit(self.client_fn().cancel, self.job_id, on_done=self._on_status, on_error=self._failed)

    def _created(self, status: dict) -> None:
        self.job_id, self._ended, self._fetched = status["id"], False, set()
        self._timer.start()
        self.submitted.emit(status)
        self._on_status(status)
        if self._cancel_asked and not self._ended:
            self.cancel()

    def _failed(self, exc: Exception) -> None:
        if self.job_id is None or self._ended:
            self._busy = False  # the job was not created, or its result could not be fetched
        self.error.emit(str(exc))

    def _poll(self) -> None:
        if self._polling or not self.job_id:
            return
        self._polling = True
        self.runner.submit(self.client_fn().job, self.job_id, on_done=self._polled, on_error=self._poll_failed)

    def _poll_failed(self, exc: Exception) -> None:
        self._polling = False
        self.error.emit(str(exc))
        if isinstance(exc, ApiError) and exc.status == 404:  # deleted meanwhile
            self._timer.stop()
            self._ended, self._busy = True, False

    def _polled(self, status: dict) -> None:
        self._polling = False
        if status.get("id") == self.job_id:
            self._on_status(status)

    def _on_status(self, status: dict) -> None:
        if status.get("id") != self.job_id or self._ended:
            return
        self.last_status = status
        self.status.emit(status)
        self._fetch_new(status)
        if status.get("state") in FINAL_STATES:
            self._ended = True
            self._timer.stop()
            if status["state"] == "done":
                folder = self.output_dir_fn() / status["id"]
                self.runner.submit(download_result, self.client_fn(), status["id"], folder, self._want_mp4,
                                   on_done=self._downloaded, on_error=self._failed)
            else:
                self._busy = False
                self.ended.emit(status)

    def _downloaded(self, result: Result) -> None:
        self._busy = False
        self.finished.emit(result)

    def _fetch_new(self, status: dict) -> None:
        if self._fetching:
            return
        start = int(status.get("frame_start") or 0)
        on_disk = range(start, start + int(status.get("frames_done") or 0))
        todo = [n for n in on_disk if n not in self._fetched][:FRAMES_PER_POLL]
        if not todo:
            return
        self._fetching = True
        self.runner.submit(fetch_frames, self.client_fn(), self.job_id, todo,
                           on_done=self._frames_arrived, on_error=self._frames_failed)

    def _frames_arrived(self, frames: list) -> None:
        self._fetching = False
        for n, image in frames:
            self._fetched.add(n)
            self.frame.emit(n, image)

    def _frames_failed(self, exc: Exception) -> None:
        self._fetching = False
        log.info("frame fetch failed: %s", exc)
