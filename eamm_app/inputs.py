"""Input drop zones: portrait, speech, emotion clip or preset.

Drop a file on a zone (or click it for a file picker): it is uploaded to the server for its role
at once, off the UI thread, and the zone shows a thumbnail, the server's ``info`` (size, duration,
frames) or the server's validation message in red (no face, unreadable audio...).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLineF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from eamm_app.media import video_thumbnail
from eamm_app.tasks import TaskRunner

FILTERS = {
    "portrait": "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff)",
    "audio": "Audio or video (*.wav *.flac *.ogg *.mp3 *.m4a *.mp4 *.mov *.mkv *.avi)",
    "emotion": "Emotion clip or preset (*.mp4 *.mov *.mkv *.avi *.npz)",
}
TITLES = {"portrait": "Portrait", "audio": "Speech", "emotion": "Emotion clip / preset"}
THUMB = QSize(96, 96)
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}


def describe(role: str, answer: dict) -> str:
    """One line from an upload answer's ``info``."""
    info = answer.get("info") or {}
    if role == "portrait":
        return f"{info.get('width', '?')}×{info.get('height', '?')} px, face found"
    if role == "audio":
        return f"{float(info.get('duration_s', 0)):.2f} s · {info.get('frames', '?')} frames"
    if answer.get("kind") == "preset":
        return f"preset “{info.get('preset', '?')}” · {info.get('frames', '?')} frames"
    return f"video {info.get('frames', '?')} frames at 25 fps · {info.get('width', '?')}×{info.get('height', '?')}"


class DropZone(QFrame):
    """One input. Signals: ``uploaded(role, answer)`` after the server accepted the file,
    ``cleared(role)`` when a new file is being checked or was refused."""

    uploaded = Signal(str, dict)
    cleared = Signal(str)

    def __init__(self, role: str, runner: TaskRunner, client_fn, parent: QWidget | None = None):
        super().__init__(parent)
        self.role, self.runner, self.client_fn = role, runner, client_fn
        self.path: Path | None = None
        self.answer: dict | None = None
        self.error: str = ""
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("dropzone")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setObjectName("thumb")
        self.title = QLabel(f"<b>{TITLES[role]}</b>")
        self.name = QLabel("drop a file here or click")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.name)
        text.addWidget(self.status, 1)
        self.extra = QVBoxLayout()
        text.addLayout(self.extra)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 6, 6, 6)
        row.addWidget(self.thumb)
        row.addLayout(text, 1)
        self._set_placeholder()

    def _set_placeholder(self) -> None:
        self.thumb.setPixmap(QPixmap())
        self.thumb.setText({"portrait": "image", "audio": "audio", "emotion": "clip or\npreset"}[self.role])

    # --- drag and drop, click ------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and event.mimeData().urls()[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.set_file(Path(urls[0].toLocalFile()))

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            path, _ = QFileDialog.getOpenFileName(self, f"Choose the {TITLES[self.role].lower()}", "", FILTERS[self.role])
            if path:
                self.set_file(Path(path))

    # --- upload --------------------------------------------------------------------------------

    def set_file(self, path: Path) -> None:
        """Show the file and upload it for this zone's role (returns at once)."""
        self.path, self.answer, self.error = Path(path), None, ""
        self.name.setText(self.path.name)
        self._status("checking with the server…", "#c8c8c8")
        self._thumbnail(self.path)
        self.cleared.emit(self.role)
        role = self.role
        client = self.client_fn()
        self.runner.submit(client.upload, self.path, role,
                           on_done=lambda answer, p=self.path: self._uploaded(p, answer),
                           on_error=lambda exc, p=self.path: self._refused(p, exc))

    def _thumbnail(self, path: Path) -> None:
        self._set_placeholder()
        if self.role == "portrait":
            self._show_thumb(QImage(str(path)))
        elif path.suffix.lower() in VIDEO_SUFFIXES:  # first frame, decoded off the UI thread
            self.runner.submit(video_thumbnail, path,
                               on_done=lambda png, p=path: self._show_thumb(QImage.fromData(png)) if png and p == self.path else None)

    def _show_thumb(self, image: QImage) -> None:
        if not image.isNull():
            self.thumb.setPixmap(QPixmap.fromImage(image).scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                                 Qt.TransformationMode.SmoothTransformation))

    def set_waveform(self, envelope: list[float]) -> None:
        """An audio thumbnail: the envelope drawn small."""
        pix = QPixmap(THUMB)
        pix.fill(QColor(27, 30, 34))
        if envelope:
            p = QPainter(pix)
            p.setPen(QColor(120, 170, 230))
            w, h = THUMB.width(), THUMB.height()
            peak = max(envelope) or 1.0
            lines = []
            for x in range(w):
                chunk = envelope[x * len(envelope) // w:max(x * len(envelope) // w + 1, (x + 1) * len(envelope) // w)]
                a = max(chunk) / peak * (h / 2 - 6)
                lines.append(QLineF(x, h / 2 - a, x, h / 2 + a))
            p.drawLines(lines)
            p.end()
        self.thumb.setPixmap(pix)

    def _uploaded(self, path: Path, answer: dict) -> None:
        if path != self.path:
            return  # a newer file was chosen meanwhile
        self.answer = answer
        warnings = "; ".join(answer.get("warnings") or [])
        self._status(describe(self.role, answer) + (f"\n⚠ {warnings}" if warnings else ""), "#8fd18f")
        self.uploaded.emit(self.role, answer)

    def _refused(self, path: Path, exc: Exception) -> None:
        if path != self.path:
            return
        self.error = str(exc)
        self._status(f"✖ {exc}", "#ff7b72")
        self.cleared.emit(self.role)

    def _status(self, text: str, colour: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {colour};")

    @property
    def upload_id(self) -> str | None:
        return None if self.answer is None else self.answer.get("id")


class EmotionZone(DropZone):
    """The emotion zone, with a combo of the server's bundled presets as an alternative."""

    def __init__(self, runner: TaskRunner, client_fn, parent: QWidget | None = None):
        super().__init__("emotion", runner, client_fn, parent)
        self.presets = QComboBox()
        self.presets.addItem("(none: neutral, or the file above)", None)
        self.extra.addWidget(self.presets)

    def set_presets(self, names: list[str]) -> None:
        current = self.presets.currentData()
        self.presets.clear()
        self.presets.addItem("(none: neutral, or the file above)", None)
        for n in names:
            self.presets.addItem(f"bundled preset: {n}", n)
        if current in names:
            self.presets.setCurrentIndex(names.index(current) + 1)

    @property
    def preset(self) -> str | None:
        return self.presets.currentData()

