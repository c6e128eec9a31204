"""The main window: inputs, options, player and curve editor on the Generate tab; the server's
queue on the Queue tab; settings in a dialog. Nothing here waits on HTTP: every request goes
through the :class:`TaskRunner` and answers come back as signals."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from eamm_app import curve_model
from eamm_app.api import ApiClient
from eamm_app.curve_editor import CurveEditor
from eamm_app.generation import JobController, Result, export_result
from eamm_app.inputs import DropZone, EmotionZone
from eamm_app.local_server import Connection, connect
from eamm_app.media import audio_envelope
from eamm_app.player import Player
from eamm_app.queue_view import QueueView, progress_text
from eamm_app.settings import Settings
from eamm_app.tasks import TaskRunner

log = logging.getLogger(__name__)
ENGINES = ("landmark", "neural")
#: face landmark models (eamm_core.prepare.landmark_models; the app does not import eamm_core)
LANDMARK_MODELS = ("dlib68", "mediapipe478")


class SettingsDialog(QDialog):
    """Server URL and token, default engine, output folder."""

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("eamm-app settings")
        self.settings = settings
        self.url = QLineEdit(settings.server_url)
        self.token_file = QLineEdit(settings.token_file)
        self.token_file.setPlaceholderText(str(settings.resolved_token_file()))
        self.token = QLineEdit(settings.token)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("empty: read from the token file")
        self.engine = QComboBox()
        self.engine.addItems(list(ENGINES))
        self.engine.setCurrentText(settings.default_engine)
        self.landmarks = QComboBox()
        self.landmarks.addItems(list(LANDMARK_MODELS))
        self.landmarks.setCurrentText(settings.default_landmarks)
        self.landmarks.setToolTip("mediapipe478: Apache-2.0; dlib68: its training data is for non-commercial use")
        self.output = QLineEdit(settings.output_dir)
        self.output.setPlaceholderText(str(settings.resolved_output_dir()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Server URL", self.url)
        form.addRow("Token file", self.token_file)
        form.addRow("Token", self.token)
        form.addRow("Default engine", self.engine)
        form.addRow("Default landmarks", self.landmarks)
        form.addRow("Output folder", out_row)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder", self.output.text() or str(Path.home()))
        if path:
            self.output.setText(path)

    def apply(self) -> None:
        s = self.settings
        s.server_url = self.url.text().strip() or s.server_url
        s.token_file, s.token = self.token_file.text().strip(), self.token.text().strip()
        s.default_engine, s.output_dir = self.engine.currentText(), self.output.text().strip()
        s.default_landmarks = self.landmarks.currentText()
        s.save()


class MainWindow(QMainWindow):
    """``connected(Connection)`` once the server answered (after starting one when needed)."""

    connected = Signal(object)

    def __init__(self, settings: Settings, *, autostart: bool = True, use_audio: bool | None = None,
                 server_args: list[str] | None = None):
        super().__init__()
        self.settings, self.autostart, self.server_args = settings, autostart, list(server_args or [])
        self.runner = TaskRunner(self, max_threads=4)
        self._client: ApiClient | None = None
        self.connection: Connection | None = None
        self.local_server = None
        self.audio_frames: int | None = None
        self.result: Result | None = None
        self.setWindowTitle("EAMM — emotional talking faces")
        self.resize(1280, 820)
        self.controller = JobController(self.runner, self.client, self.settings.resolved_output_dir, self)
        self._build(use_audio)
        self._wire()
        self.connect_server()

    # --- server ----------------------------------------------------------------------------------

    def client(self) -> ApiClient:
        if self._client is None:
            self._client = ApiClient(self.settings.server_url, self.settings.resolved_token())
        return self._client

    def reset_client(self) -> None:
        if self._client is not None:
            old, self._client = self._client, None
            self.runner.submit(old.close)  # never close under a request on the UI thread

    def connect_server(self) -> None:
        self.server_label.setText(f"connecting to {self.settings.server_url}…")
        self.runner.submit(self._connect_task, on_done=self._connected, on_error=self._not_connected)

    def _connect_task(self) -> Connection:
        return connect(self.settings.server_url, self.settings.resolved_token_file(), autostart=self.autostart,
                       server_args=self.server_args)

    def _connected(self, conn: Connection) -> None:
        how = "connected to eamm-server"
        if conn.started is not None:
            self._stop_local_server()
            self.local_server = conn.started
            self.settings.server_url = conn.started.url
            how = "started a local eamm-server (none answered)"
        self.connection = conn
        self.reset_client()  # the token file may be new
        h = conn.health
        self.server_label.setText(f"{how} {h.server_version} at {self.settings.server_url} · {h.device}")
        self.statusBar().showMessage(f"{how} at {self.settings.server_url}", 8000)
        self._set_engines(h.engines)
        self.runner.submit(self.client().presets, on_done=self.emotion_zone.set_presets,
                           on_error=lambda exc: log.info("no presets: %s", exc))
        self.connected.emit(conn)

    def _stop_local_server(self) -> None:
        if self.local_server is not None:
            self.local_server.stop()
            self.local_server = None

    def _not_connected(self, exc: Exception) -> None:
        self.server_label.setText(f"✖ no server: {exc}")
        self.statusBar().showMessage(str(exc))

    def _set_engines(self, engines: dict) -> None:
        model = self.engine_box.model()
        for i, name in enumerate(ENGINES):
            item = model.item(i)
            item.setEnabled(bool(engines.get(name, name == "landmark")))
        wanted = self.settings.default_engine if engines.get(self.settings.default_engine) else "landmark"
        self.engine_box.setCurrentText(wanted)

    # --- layout ----------------------------------------------------------------------------------

    def _build(self, use_audio: bool | None) -> None:
        self.portrait_zone = DropZone("portrait", self.runner, self.client)
        self.audio_zone = DropZone("audio", self.runner, self.client)
        self.emotion_zone = EmotionZone(self.runner, self.client)
        self.player = Player(use_audio=use_audio)
        self.curve_editor = CurveEditor()
        self.queue_view = QueueView(self.runner, self.client, self.settings.resolved_output_dir)
        left = QVBoxLayout()
        inputs = QGroupBox("Inputs")
        il = QVBoxLayout(inputs)
        for zone in (self.portrait_zone, self.audio_zone, self.emotion_zone):
            il.addWidget(zone)
        left.addWidget(inputs)
        left.addWidget(self._build_options())
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMinimumWidth(360)
        left_widget.setMaximumWidth(460)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(left_widget)
        top.addWidget(self.player)
        top.setStretchFactor(1, 1)
        vsplit = QSplitter(Qt.Orientation.Vertical)
        vsplit.addWidget(top)
        vsplit.addWidget(self.curve_editor)
        vsplit.setStretchFactor(0, 3)
        vsplit.setStretchFactor(1, 1)
        vsplit.setSizes([540, 230])
        self.tabs = QTabWidget()
        self.tabs.addTab(vsplit, "Generate")
        self.tabs.addTab(self.queue_view, "Queue")
        self.setCentralWidget(self.tabs)
        self.server_label = QLabel()
        self.statusBar().addPermanentWidget(self.server_label)
        self._build_menu()

    def _build_options(self) -> QGroupBox:
        box = QGroupBox("Run")
        form = QFormLayout(box)
        self.engine_box = QComboBox()
        self.engine_box.addItems(list(ENGINES))
        self.engine_box.setCurrentText(self.settings.default_engine)
        self.landmarks_box = QComboBox()
        self.landmarks_box.addItems(list(LANDMARK_MODELS))
        self.landmarks_box.setCurrentText(self.settings.default_landmarks)
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.paste_back = QCheckBox("Paste back into the full portrait")
        self.size_box = QComboBox()
        self.size_box.addItems(["auto", "256", "512", "1024", "2048"])
        self.size_box.setToolTip("Face resolution of the frames (auto: from the face's size in the portrait)")
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generate")
        self.generate_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.job_label = QLabel("add a portrait and a speech file")
        self.job_label.setWordWrap(True)
        form.addRow("Engine", self.engine_box)
        form.addRow("Landmarks", self.landmarks_box)
        form.addRow("Seed", self.seed_box)
        form.addRow("Resolution", self.size_box)
        form.addRow("", self.paste_back)
        form.addRow(buttons)
        form.addRow(self.progress)
        form.addRow(self.job_label)
        return box

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.export_mp4_action = QAction("Export MP4…", self)
        self.export_png_action = QAction("Export PNG sequence…", self)
        settings_action = QAction("Settings…", self)
        reconnect = QAction("Reconnect to the server", self)
        quit_action = QAction("Quit", self)
        for a in (self.export_mp4_action, self.export_png_action):
            a.setEnabled(False)
        self.export_mp4_action.triggered.connect(lambda: self._export_dialog(mp4=True))
        self.export_png_action.triggered.connect(lambda: self._export_dialog(mp4=False))
        settings_action.triggered.connect(self.open_settings)
        reconnect.triggered.connect(self.connect_server)
        quit_action.triggered.connect(self.close)
        for a in (self.export_mp4_action, self.export_png_action, None, settings_action, reconnect, None, quit_action):
            file_menu.addSeparator() if a is None else file_menu.addAction(a)

    def _wire(self) -> None:
        for zone in (self.portrait_zone, self.audio_zone, self.emotion_zone):
            zone.uploaded.connect(self._input_ready)
            zone.cleared.connect(lambda _role: self._update_buttons())
        self.emotion_zone.presets.currentIndexChanged.connect(lambda _i: self._update_buttons())
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)
        c = self.controller
        c.submitted.connect(lambda s: self.job_label.setText(f"job {s['id']} queued"))
        c.status.connect(self._job_status)
        c.frame.connect(self.player.add_frame)
        c.finished.connect(self._job_finished)
        c.ended.connect(self._job_ended)
        c.error.connect(self._job_error)
        self.player.frame_shown.connect(self.curve_editor.canvas.set_playhead)
        self.curve_editor.canvas.seek.connect(self.player.show_frame)
        self.curve_editor.message.connect(lambda m: self.statusBar().showMessage(m, 6000))
        self.queue_view.message.connect(lambda m: self.statusBar().showMessage(m, 6000))
        self.queue_view.job_resumed.connect(self._follow_resumed)

    # --- inputs ----------------------------------------------------------------------------------

    def _input_ready(self, role: str, answer: dict) -> None:
        if role == "portrait" and self.portrait_zone.path is not None:
            self.player.set_source(QImage(str(self.portrait_zone.path)))
        if role == "audio":
            self.audio_frames = int((answer.get("info") or {}).get("frames") or 0) or None
            if self.audio_frames:
                self.curve_editor.canvas.set_num_frames(self.audio_frames)
            self.runner.submit(audio_envelope, self.audio_zone.path, on_done=self._envelope_ready)
        if role == "emotion":
            self.emotion_zone.presets.setCurrentIndex(0)
        self._update_buttons()

    def _envelope_ready(self, envelope: list[float]) -> None:
        self.curve_editor.canvas.set_envelope(envelope)
        self.audio_zone.set_waveform(envelope)

    def _update_buttons(self) -> None:
        ready = self.portrait_zone.upload_id is not None and self.audio_zone.upload_id is not None
        busy = self.controller.active
        self.generate_button.setEnabled(ready and not busy)
        self.cancel_button.setEnabled(busy)
        if not busy and not ready:
            self.job_label.setText("add a portrait and a speech file")
        elif not busy and self.controller.job_id is None:
            self.job_label.setText("ready: press Generate")

    # --- generation ------------------------------------------------------------------------------

    def job_spec(self) -> dict:
        """The job sent to ``POST /v1/jobs`` for the current inputs, curves and options."""
        job = {"portrait": self.portrait_zone.upload_id, "audio": self.audio_zone.upload_id,
               "engine": self.engine_box.currentText(), "landmarks": self.landmarks_box.currentText(),
               "seed": self.seed_box.value(),
               "paste_back": self.paste_back.isChecked(), "size": self.size_box.currentText(), "outputs": ["frames", "mp4"]}
        if self.emotion_zone.preset:
            job["emotion_preset"] = self.emotion_zone.preset
        elif self.emotion_zone.upload_id:
            job["emotion"] = self.emotion_zone.upload_id
        job.update(curve_model.job_curves(self.curve_editor.curves, self.audio_frames or 1))
        return job

    def generate(self) -> None:
        self.result = None
        self.player.clear()
        self.progress.setValue(0)
        self.export_mp4_action.setEnabled(False)
        self.export_png_action.setEnabled(False)
        self.job_label.setText("submitting…")
        self.controller.start(self.job_spec())
        self._update_buttons()

    def cancel(self) -> None:
        self.job_label.setText("cancelling (after the current frame)…")
        self.controller.cancel()

    def _follow_resumed(self, status: dict) -> None:
        if self.controller.active:
            return
        self.result = None
        self.player.clear()
        self.tabs.setCurrentIndex(0)
        self.controller.follow(status)

    def _job_status(self, s: dict) -> None:
        total = int(s.get("frames_total") or 0)
        pct = 100 if s.get("state") == "done" else (100 * int(s.get("frames_done") or 0) // total if total else 0)
        self.progress.setValue(pct)
        self.job_label.setText(f"{s['id']}: {s.get('state')} · {s.get('stage')} · {progress_text(s)}")
        self._update_buttons()

    def _job_finished(self, result: Result) -> None:
        self.result = result
        for n, image in result.frames:
            self.player.add_frame(n, image, follow=False)
        self.player.set_media(result.mp4)
        self.player.show_frame(self.player.first)
        self.progress.setValue(100)
        self.job_label.setText(f"{result.job_id}: done · {len(result.frames)} frames · saved in {result.folder}")
        self.statusBar().showMessage(f"result saved in {result.folder}", 10000)
        self.export_mp4_action.setEnabled(result.mp4 is not None)
        self.export_png_action.setEnabled(True)
        self._update_buttons()

    def _job_ended(self, s: dict) -> None:
        self.job_label.setText(f"{s['id']}: {s.get('state')}" + (f" — {s['error']}" if s.get("error") else "")
                               + (" (resumable from the Queue tab)" if s.get("resumable") else ""))
        self._update_buttons()

    def _job_error(self, message: str) -> None:
        self.job_label.setText(f"✖ {message}")
        self.statusBar().showMessage(message, 10000)
        self._update_buttons()

    # --- export, settings, exit ------------------------------------------------------------------

    def _export_dialog(self, mp4: bool) -> None:
        dest = QFileDialog.getExistingDirectory(self, "Export to folder", str(self.settings.resolved_output_dir()))
        if dest:
            self.export(Path(dest), mp4=mp4, pngs=not mp4)

    def export(self, dest: Path, *, mp4: bool, pngs: bool, on_done=None) -> None:
        """Copy the finished result to ``dest`` (worker thread); ``on_done(paths)`` afterwards."""
        if self.result is None:
            return
        folder = self.result.folder

        def done(paths):
            self.statusBar().showMessage("exported " + ", ".join(str(p) for p in paths), 10000)
            if on_done:
                on_done(paths)

        self.runner.submit(lambda: export_result(folder, dest, mp4=mp4, pngs=pngs), on_done=done,
                           on_error=self._job_error)

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            dialog.apply()
            self.reset_client()
            self.connect_server()

    def closeEvent(self, event) -> None:
        self.controller._timer.stop()
        self.queue_view.timer.stop()
        self.player.stop()
        self.player.release_media()
        self.runner.wait(5000)
        self._stop_local_server()
        super().closeEvent(event)
