"""The UI thread never waits on HTTP: with a deliberately slow server, a 20 ms timer keeps firing
while requests are outstanding, and the answers arrive through signals. Also: settings persistence."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"

DELAY_S = 1.5


class SlowHandler(BaseHTTPRequestHandler):
    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        time.sleep(DELAY_S)
        if self.path == "/health":
            self._json(200, {"server_version": "slow", "api_version": 1, "engines": {"landmark": True}, "device": "cpu"})
        elif self.path == "/v1/presets":
            self._json(200, {"presets": [{"name": "calm"}]})
        else:
            self._json(404, {"detail": "no such thing", "field": None})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(DELAY_S)
        self._json(422, {"detail": "x.png: no face found; use a photo with a visible face", "field": "file"})

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def qapp():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


@pytest.fixture
def settings(tmp_path, qapp):
    from PySide6.QtCore import QSettings

    from eamm_app.settings import Settings

    token = tmp_path / "token"
    token.write_text("tok-123\n")
    s = Settings.open(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    s.token_file, s.output_dir = str(token), str(tmp_path / "out")
    return s


def run_while_counting(until, timeout_s: float = 15.0) -> tuple[int, float]:
    """Process events until ``until()`` while a 20 ms timer counts its ticks; returns (ticks, seconds)."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest

    ticks = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    t0 = time.monotonic()
    timer.start()
    while not until() and time.monotonic() - t0 < timeout_s:
        QTest.qWait(5)
    timer.stop()
    return len(ticks), time.monotonic() - t0


def test_connect_and_upload_keep_the_event_loop_running(slow_server, settings, tmp_path):
    from eamm_app.main_window import MainWindow

    settings.server_url = slow_server
    connected = []
    t0 = time.monotonic()
    win = MainWindow(settings, autostart=False, use_audio=False)  # submits GET /health (slow)
    assert time.monotonic() - t0 < 1.0, "building the window must not wait for the server"
    win.connected.connect(connected.append)
    ticks, secs = run_while_counting(lambda: bool(connected))
    assert connected and connected[0].health.server_version == "slow", "the answer arrives by signal"
    assert secs >= DELAY_S * 0.9
    assert ticks >= 0.6 * secs / 0.020, f"timer fired {ticks} times in {secs:.2f} s"
    assert "slow" in win.server_label.text()

    # an upload the server refuses (slowly): the zone shows the server's message
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    zone = win.portrait_zone
    t0 = time.monotonic()
    zone.set_file(png)
    assert time.monotonic() - t0 < 0.5
    ticks, secs = run_while_counting(lambda: bool(zone.error))
    assert "no face found" in zone.error and "no face found" in zone.status.text()
    assert secs >= DELAY_S * 0.9 and ticks >= 0.6 * secs / 0.020
    assert not win.generate_button.isEnabled()
    win.close()


def test_settings_are_remembered_in_the_given_scope(tmp_path, qapp):
    from PySide6.QtCore import QSettings

    from eamm_app.settings import Settings

    ini = tmp_path / "s.ini"
    s = Settings.open(QSettings(str(ini), QSettings.Format.IniFormat))
    assert s.server_url == "http://127.0.0.1:8765" and s.default_engine == "landmark"
    token = tmp_path / "tok"
    token.write_text("abc\n")
    s.server_url, s.token_file, s.default_engine, s.output_dir = "http://127.0.0.1:9999", str(token), "neural", str(tmp_path)
    s.save()
    again = Settings.open(QSettings(str(ini), QSettings.Format.IniFormat))
    assert (again.server_url, again.default_engine, again.output_dir) == ("http://127.0.0.1:9999", "neural", str(tmp_path))
    assert again.resolved_token() == "abc"  # read from the token file
    again.token = "explicit"
    assert again.resolved_token() == "explicit"
    assert "9999" in ini.read_text()


def test_pyside_keeps_reference_counts(qapp):
    """PySide6 6.12.0 under CPython 3.11 dropped a reference to None on every void call, so the app
    aborted after a few thousand paints ("none_dealloc"); requirements/main.txt pins a correct one."""
    import sys

    from PySide6.QtWidgets import QWidget

    w = QWidget()
    before = sys.getrefcount(None)
    for _ in range(2000):
        w.update()
    assert abs(sys.getrefcount(None) - before) < 50


def test_settings_dialog_applies_and_saves(tmp_path, qapp):
    from PySide6.QtCore import QSettings

    from eamm_app.main_window import SettingsDialog
    from eamm_app.settings import Settings

    ini = tmp_path / "s.ini"
    s = Settings.open(QSettings(str(ini), QSettings.Format.IniFormat))
    dialog = SettingsDialog(s)
    dialog.url.setText("http://localhost:8800")
    dialog.engine.setCurrentText("neural")
    dialog.output.setText(str(tmp_path / "results"))
    dialog.apply()
    again = Settings.open(QSettings(str(ini), QSettings.Format.IniFormat))
    assert again.server_url == "http://localhost:8800" and again.default_engine == "neural"
    assert again.resolved_output_dir() == tmp_path / "results"
