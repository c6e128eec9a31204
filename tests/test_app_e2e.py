"""The desktop app end to end against a real ``eamm-server`` on loopback (offscreen, no audio device):
inputs by drop and by picker path, a curve edited with the mouse, a landmark job generated with
frames arriving and progress reaching 100 %, the player holding every frame, export, a second job
cancelled, the queue view (delete), and the main window's screenshot for docs/app.md."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import REPO, SAMPLE_SPEECH, sample_face_clip, sample_face_rgb
from server_harness import ServerProcess, cut_wav

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # also for the docs' screenshots: same look everywhere
ARTIFACTS = REPO / "tests" / "_artifacts"


@pytest.fixture(scope="module")
def qapp():
    from PySide6.QtWidgets import QApplication

    from eamm_app.main import apply_style

    app = QApplication.instance() or QApplication([])
    apply_style(app)
    return app


def wait_until(cond, timeout: float, what: str) -> None:
    from PySide6.QtTest import QTest

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        QTest.qWait(20)


def drop_file(widget, path: Path) -> None:
    """A real drag-enter + drop of a local file on ``widget``."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = widget.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the zone must accept a dragged file"
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)


def save_screenshot(widget, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = ARTIFACTS / name
    assert widget.grab().save(str(out)), f"could not save {out}"
    if os.environ.get("EAMM_UPDATE_DOCS") == "1":
        (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
        shutil.copy2(out, REPO / "docs" / "img" / name)
    return out


def check_audio_clock(result) -> None:
    """With the clip's sound as the clock, the frame shown is floor(position_ms * 25 / 1000)."""
    from PySide6.QtTest import QTest

    from eamm_app.player import Player

    player = Player(use_audio=True)
    for n, image in result.frames:
        player.add_frame(n, image, follow=False)
    player.set_media(result.mp4)
    player.loop.setChecked(False)
    player.play()
    QTest.qWait(700)
    media = player._media_player
    if not player.use_audio:  # this machine's multimedia backend could not play it: wall clock
        assert player.current > 0
    else:
        player._on_tick()  # the frame for the clock's position now
        position = media.position()
        assert position > 0 and player.current > 0
        assert abs(player.current - position * 25 // 1000) <= 1
    player.pause()
    player.release_media()
    player.deleteLater()
    QTest.qWait(50)


def load_inputs(win, tmp_path: Path) -> None:
    """A refused WAV shows the server's message; then a portrait by drop, speech, a clip, a preset."""
    bad_audio = tmp_path / "broken.wav"
    bad_audio.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    win.audio_zone.set_file(bad_audio)
    wait_until(lambda: win.audio_zone.error, 60, "the refusal of a broken WAV")
    assert "broken.wav" in win.audio_zone.status.text() and "audio" in win.audio_zone.error
    assert not win.generate_button.isEnabled()
    from PIL import Image

    Image.fromarray(sample_face_rgb()).save(tmp_path / "face.png")
    drop_file(win.portrait_zone, tmp_path / "face.png")
    win.audio_zone.set_file(cut_wav(SAMPLE_SPEECH, tmp_path / "line.wav", 2.0))
    win.emotion_zone.set_file(sample_face_clip(tmp_path / "clip.mp4", 25))  # a clip: first-frame thumbnail
    wait_until(lambda: win.emotion_zone.upload_id and not win.emotion_zone.thumb.pixmap().isNull(), 120,
               "the emotion clip's upload and thumbnail")
    assert "video" in win.emotion_zone.status.text()
    win.emotion_zone.set_file(REPO / "samples" / "happy.npz")  # then the preset, used below
    wait_until(lambda: all(z.upload_id for z in (win.portrait_zone, win.audio_zone, win.emotion_zone)), 120,
               "the three uploads")
    assert win.audio_frames == 49 and "2.00 s" in win.audio_zone.status.text()
    assert "preset" in win.emotion_zone.status.text()
    assert not win.portrait_zone.thumb.pixmap().isNull(), "portrait thumbnail"
    assert win.generate_button.isEnabled()
    wait_until(lambda: len(win.curve_editor.canvas.envelope) >= 195, 30, "the waveform (100 values per second)")


def edit_strength_by_mouse(win) -> None:
    """One click adds a key: 1.0 at frame 0 -> 2.0 at frame 40; the job carries it per frame."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    canvas = win.curve_editor.canvas
    assert canvas.num_frames == 49
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(round(canvas.frame_to_x(40)), round(canvas.value_to_y(2.0))))
    keys = canvas.curve.keys
    assert len(keys) == 2 and keys[1][0] == pytest.approx(40, abs=1) and keys[1][1] == pytest.approx(2.0, abs=0.02)
    spec = win.job_spec()
    assert len(spec["strength"]) == 49 and spec["strength"][-1] == pytest.approx(keys[1][1], abs=1e-4)
    assert spec["engine"] == "landmark" and spec["emotion"] == win.emotion_zone.upload_id and "pose" not in spec


def generate(win, tmp_path: Path) -> str:
    """Generate: frames arrive while it runs, progress ends at 100 %, the player holds all 49 frames."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage
    from PySide6.QtTest import QTest

    progress, live_frames = [], []
    win.controller.status.connect(lambda s: progress.append(win.progress.value()))
    win.controller.frame.connect(lambda n, img: live_frames.append(n) if win.result is None else None)
    QTest.mouseClick(win.generate_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: win.result is not None or "✖" in win.job_label.text(), 300, "the job to finish")
    assert win.result is not None, win.job_label.text()
    assert progress[-1] == 100 and win.progress.value() == 100
    assert live_frames, "frames are shown while the job runs"
    assert win.player.frame_count == 49 and (win.player.first, win.player.last) == (0, 48)
    mp4 = tmp_path / "out" / win.result.job_id / "result.mp4"
    assert mp4.is_file() and mp4.stat().st_size > 1000 and win.result.mp4 == mp4
    first = win.player.frames[0]
    assert isinstance(first, QImage) and (first.width(), first.height()) == (256, 256)
    return win.result.job_id


def review_and_export(win, tmp_path: Path, job_id: str) -> None:
    """Step, scrub, play (wall clock here), the screenshot, the sound clock, export MP4 + PNGs."""
    from PySide6.QtTest import QTest

    win.player.show_frame(20)
    win.player.step(1)
    assert win.player.current == 21 and win.curve_editor.canvas.playhead == 21
    win.player.slider.setValue(30)
    assert win.player.current == 30
    win.player.play()
    QTest.qWait(300)
    assert win.player.is_playing() and win.player.current != 30
    win.player.pause()
    win.player.show_frame(24)
    save_screenshot(win, "app_main.png")
    check_audio_clock(win.result)
    exported = []
    win.export(tmp_path / "export", mp4=True, pngs=True, on_done=exported.append)
    wait_until(lambda: exported, 60, "the export")
    assert (tmp_path / "export" / f"{job_id}.mp4").stat().st_size == win.result.mp4.stat().st_size
    assert len(list((tmp_path / "export" / f"{job_id}_frames").glob("frame_*.png"))) == 49


def cancel_second_job(win, job_id: str) -> str:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    win.seed_box.setValue(7)
    QTest.mouseClick(win.generate_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: win.controller.job_id not in (None, job_id), 60, "the second job's id")
    second = win.controller.job_id
    assert win.cancel_button.isEnabled()
    QTest.mouseClick(win.cancel_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: win.controller.last_status.get("state") in ("cancelled", "done", "failed")
               and not win.controller.active, 120, "the cancellation")
    assert win.controller.last_status["state"] == "cancelled", win.controller.last_status
    assert "cancelled" in win.job_label.text() and win.generate_button.isEnabled()
    return second


def queue_resume_delete(win, job_id: str, second: str) -> None:
    """The Queue tab lists both; resuming the cancelled one is followed to the end; then delete it."""
    win.tabs.setCurrentIndex(1)
    queue = win.queue_view
    queue.refresh()
    wait_until(lambda: {j["id"] for j in queue.jobs} >= {job_id, second}, 30, "the queue listing")
    states = {j["id"]: j["state"] for j in queue.jobs}
    assert states[job_id] == "done" and states[second] == "cancelled"
    assert queue.table.rowCount() == len(queue.jobs)
    save_screenshot(win, "app_queue.png")
    assert queue.select(second)
    queue.resume_selected()
    wait_until(lambda: win.result is not None and win.result.job_id == second, 300, "the resumed job")
    assert win.tabs.currentIndex() == 0 and win.player.frame_count == 49 and win.progress.value() == 100
    win.tabs.setCurrentIndex(1)
    queue.refresh()
    wait_until(lambda: {j["id"]: j["state"] for j in queue.jobs}.get(second) == "done", 30, "the queue update")
    assert queue.select(second)
    queue.delete_selected()
    wait_until(lambda: second not in {j["id"] for j in queue.jobs}, 30, "the deletion")
    assert job_id in {j["id"] for j in queue.jobs}


def test_app_generates_reviews_exports_and_cancels(qapp, tmp_path):
    from PySide6.QtCore import QSettings
    from PySide6.QtTest import QTest

    from eamm_app.main_window import MainWindow
    from eamm_app.settings import Settings

    with ServerProcess() as srv:
        settings = Settings.open(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        settings.server_url, settings.token_file, settings.output_dir = srv.url, str(srv.token_file), str(tmp_path / "out")
        win = MainWindow(settings, autostart=False, use_audio=False)
        win.resize(1280, 820)
        win.show()
        QTest.qWaitForWindowExposed(win)
        try:
            wait_until(lambda: win.connection is not None, 60, "the server connection")
            assert "connected to eamm-server" in win.server_label.text()
            load_inputs(win, tmp_path)
            edit_strength_by_mouse(win)
            job_id = generate(win, tmp_path)
            review_and_export(win, tmp_path, job_id)
            second = cancel_second_job(win, job_id)
            queue_resume_delete(win, job_id, second)
        finally:
            win.close()



def test_app_starts_a_local_server_when_none_answers_and_stops_it(qapp, tmp_path):
    from PySide6.QtCore import QSettings
    from server_harness import free_port

    from eamm_app.main_window import MainWindow
    from eamm_app.settings import Settings

    settings = Settings.open(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    token_file = tmp_path / "token"
    settings.server_url, settings.token_file = f"http://127.0.0.1:{free_port()}", str(token_file)
    win = MainWindow(settings, use_audio=False, server_args=["--data", str(tmp_path / "data")])
    try:
        wait_until(lambda: win.connection is not None or "no server" in win.server_label.text(), 120, "the local server")
        assert win.connection is not None, win.server_label.text()
        assert "started a local eamm-server" in win.server_label.text()
        proc = win.local_server.proc
        assert proc.poll() is None
        assert token_file.is_file() and win.client().token == token_file.read_text().strip()
        got = []
        win.runner.submit(win.client().jobs, on_done=got.append)  # the token made by that server works
        wait_until(lambda: got, 30, "an authorised request")
        assert got == [[]]
    finally:
        win.close()
    assert proc.poll() is not None, "the app stops the server it started"


def test_console_script_help():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "eamm_app.main", "--help"], capture_output=True, text=True, timeout=60,
                         cwd=REPO, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0 and "--server" in out.stdout and "--token-file" in out.stdout
