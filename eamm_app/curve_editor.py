"""Curve editor: keys of emotion strength and head yaw/pitch/roll drawn over the audio waveform.

Mouse: left click on empty space adds a key (and drags it while the button is held), left drag on
a key moves it (frames snap to whole 25 fps frames, values are clamped to the channel's range),
right click on a key deletes it. The other channels are drawn faintly for reference.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from eamm_app import curve_model as cm

COLOURS = {"strength": QColor(255, 170, 60), "yaw": QColor(90, 200, 255), "pitch": QColor(140, 230, 120),
           "roll": QColor(230, 120, 230)}
HIT_PX = 8


class CurveCanvas(QWidget):
    """The drawing and mouse handling; the model is a dict of :class:`curve_model.Curve`."""

    changed = Signal()
    seek = Signal(int)

    MARGINS = (46, 10, 10, 22)  # left, top, right, bottom

    def __init__(self, curves: dict[str, cm.Curve], parent: QWidget | None = None):
        super().__init__(parent)
        self.curves = curves
        self.channel = "strength"
        self.num_frames = 125
        self.envelope: list[float] = []
        self.envelope_rate = 100  # envelope values per second
        self.playhead: int | None = None
        self._drag: int | None = None
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)

    # --- geometry ------------------------------------------------------------------------------

    def plot_rect(self) -> QRectF:
        left, top, right, bottom = self.MARGINS
        return QRectF(left, top, max(10, self.width() - left - right), max(10, self.height() - top - bottom))

    @property
    def curve(self) -> cm.Curve:
        return self.curves[self.channel]

    def frame_to_x(self, frame: float) -> float:
        r = self.plot_rect()
        return r.left() + frame / max(1, self.num_frames - 1) * r.width()

    def x_to_frame(self, x: float) -> int:
        r = self.plot_rect()
        f = (x - r.left()) / r.width() * max(1, self.num_frames - 1)
        return int(round(min(max(f, 0), self.num_frames - 1)))

    def value_to_y(self, value: float, spec: cm.ChannelSpec | None = None) -> float:
        spec = spec or self.curve.spec
        r = self.plot_rect()
        return r.top() + (spec.maximum - value) / (spec.maximum - spec.minimum) * r.height()

    def y_to_value(self, y: float) -> float:
        spec, r = self.curve.spec, self.plot_rect()
        return self.curve.clamp(spec.maximum - (y - r.top()) / r.height() * (spec.maximum - spec.minimum))

    def key_pos(self, index: int) -> QPointF:
        f, v = self.curve.keys[index]
        return QPointF(self.frame_to_x(f), self.value_to_y(v))

    def key_at(self, pos: QPointF) -> int | None:
        best, best_d = None, HIT_PX
        for i in range(len(self.curve.keys)):
            d = (self.key_pos(i) - pos).manhattanLength()
            if d <= best_d:
                best, best_d = i, d
        return best

    # --- public --------------------------------------------------------------------------------

    def set_channel(self, name: str) -> None:
        self.channel = name
        self.update()

    def set_num_frames(self, n: int) -> None:
        self.num_frames = max(2, int(n))
        self.update()

    def set_envelope(self, envelope: list[float]) -> None:
        self.envelope = list(envelope)
        self.update()

    def set_playhead(self, frame: int | None) -> None:
        self.playhead = frame
        self.update()

    # --- mouse ---------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        hit = self.key_at(pos)
        if event.button() == Qt.MouseButton.RightButton:
            if hit is not None:
                self.curve.remove(hit)
                self.changed.emit()
                self.update()
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if hit is None:
            hit = self.curve.add(self.x_to_frame(pos.x()), self.y_to_value(pos.y()))
            self.changed.emit()
        self._drag = hit
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is None:
            return
        pos = event.position()
        self._drag = self.curve.move(self._drag, self.x_to_frame(pos.x()), self.y_to_value(pos.y()))
        self.changed.emit()
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.seek.emit(self.x_to_frame(event.position().x()))

    # --- painting ------------------------------------------------------------------------------

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(32, 34, 38))
        r = self.plot_rect()
        p.fillRect(r, QColor(22, 24, 27))
        self._paint_waveform(p, r)
        self._paint_grid(p, r)
        for name in self.curves:
            if name != self.channel and self.curves[name].keys:
                self._paint_curve(p, self.curves[name], faint=True)
        self._paint_curve(p, self.curve, faint=False)
        self._paint_keys(p)
        if self.playhead is not None:
            x = self.frame_to_x(self.playhead)
            p.setPen(QPen(QColor(255, 80, 80), 1.5))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        p.end()

    def _paint_waveform(self, p: QPainter, r: QRectF) -> None:
        if not self.envelope:
            return
        p.setPen(QPen(QColor(70, 80, 95), 1))
        mid, half = r.center().y(), r.height() / 2 * 0.9
        per_frame = self.envelope_rate / 25.0
        lines = []
        for px in range(int(r.left()), int(r.right())):
            f0 = (px - r.left()) / r.width() * max(1, self.num_frames - 1)
            f1 = (px + 1 - r.left()) / r.width() * max(1, self.num_frames - 1)
            chunk = self.envelope[int(f0 * per_frame):max(int(f0 * per_frame) + 1, int(f1 * per_frame))]
            if chunk:
                a = min(1.0, max(chunk) * 1.6) * half
                lines.append(QLineF(px, mid - a, px, mid + a))
        p.drawLines(lines)

    def _paint_grid(self, p: QPainter, r: QRectF) -> None:
        spec = self.curve.spec
        p.setPen(QPen(QColor(60, 64, 70), 1, Qt.PenStyle.DotLine))
        for i in range(5):
            v = spec.minimum + (spec.maximum - spec.minimum) * i / 4
            y = self.value_to_y(v)
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
            p.setPen(QColor(170, 170, 175))
            p.drawText(QRectF(0, y - 8, r.left() - 4, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       f"{v:g}")
            p.setPen(QPen(QColor(60, 64, 70), 1, Qt.PenStyle.DotLine))
        step = 25 if self.num_frames <= 500 else 250
        for f in range(0, self.num_frames, step):
            x = self.frame_to_x(f)
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            p.setPen(QColor(170, 170, 175))
            p.drawText(QRectF(x - 20, r.bottom() + 2, 40, 16), Qt.AlignmentFlag.AlignCenter, f"{f / 25:g}s")
            p.setPen(QPen(QColor(60, 64, 70), 1, Qt.PenStyle.DotLine))

    def _paint_curve(self, p: QPainter, curve: cm.Curve, faint: bool) -> None:
        colour = QColor(COLOURS[curve.spec.name])
        if faint:
            colour.setAlpha(70)
        r = self.plot_rect()
        path = QPainterPath()
        for i, px in enumerate(range(int(r.left()), int(r.right()) + 1)):
            f = (px - r.left()) / r.width() * max(1, self.num_frames - 1)
            pt = QPointF(px, self.value_to_y(curve.value_at(f), curve.spec))
            path.moveTo(pt) if i == 0 else path.lineTo(pt)
        p.setPen(QPen(colour, 1.2 if faint else 2.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)

    def _paint_keys(self, p: QPainter) -> None:
        colour = COLOURS[self.channel]
        for i in range(len(self.curve.keys)):
            p.setPen(QPen(QColor(20, 20, 20), 1.5))
            p.setBrush(QColor(255, 255, 255) if i == self._drag else colour)
            p.drawEllipse(self.key_pos(i), 5.5, 5.5)


class CurveEditor(QWidget):
    """Toolbar (channel, interpolation, load/save/clear) above a :class:`CurveCanvas`."""

    changed = Signal()
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.curves = cm.new_curves()
        self.canvas = CurveCanvas(self.curves, self)
        self.channel_box = QComboBox()
        for name, spec in cm.CHANNELS.items():
            self.channel_box.addItem(spec.label, name)
        self.interp_box = QComboBox()
        self.interp_box.addItems(list(cm.INTERP_MODES))
        self.info = QLabel()
        buttons = [("Load…", self.load_dialog), ("Save…", self.save_dialog), ("Clear channel", self.clear_channel)]
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Curve:"))
        bar.addWidget(self.channel_box)
        bar.addWidget(self.interp_box)
        bar.addWidget(self.info, 1)
        for text, slot in buttons:
            b = QPushButton(text)
            b.clicked.connect(slot)
            bar.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)
        self.channel_box.currentIndexChanged.connect(self._channel_changed)
        self.interp_box.currentTextChanged.connect(self._interp_changed)
        self.canvas.changed.connect(self._on_changed)
        self._on_changed()

    def set_channel(self, name: str) -> None:
        self.channel_box.setCurrentIndex(list(cm.CHANNELS).index(name))

    def _channel_changed(self, _index: int) -> None:
        name = self.channel_box.currentData()
        self.canvas.set_channel(name)
        self.interp_box.blockSignals(True)
        self.interp_box.setCurrentText(self.curves[name].interp)
        self.interp_box.blockSignals(False)
        self._on_changed()

    def _interp_changed(self, mode: str) -> None:
        self.canvas.curve.interp = mode
        self.canvas.update()
        self._on_changed()

    def _on_changed(self) -> None:
        c = self.canvas.curve
        self.info.setText(f"{len(c.keys)} key(s) · click: add · drag: move · right click: delete")
        self.changed.emit()

    def clear_channel(self) -> None:
        self.canvas.curve.keys.clear()
        self.canvas.update()
        self._on_changed()

    def replace_curves(self, new: dict[str, cm.Curve]) -> None:
        for name, curve in new.items():
            self.curves[name] = curve
        self._channel_changed(self.channel_box.currentIndex())
        self.canvas.update()

    def save_dialog(self) -> None:
        pose = self.canvas.channel in cm.POSE_CHANNELS
        path, _ = QFileDialog.getSaveFileName(self, "Save pose curve" if pose else "Save strength curve",
                                              "pose.json" if pose else "strength.json", "Curves (*.json *.csv)")
        if path:
            self.save(Path(path), pose)

    def save(self, path: Path, pose: bool) -> None:
        try:
            (cm.save_pose(self.curves, path) if pose else cm.save_strength(self.curves["strength"], path))
            self.message.emit(f"saved {path}")
        except (cm.CurveFileError, OSError) as exc:
            self.message.emit(str(exc))

    def load_dialog(self) -> None:
        pose = self.canvas.channel in cm.POSE_CHANNELS
        path, _ = QFileDialog.getOpenFileName(self, "Load pose curve" if pose else "Load strength curve", "",
                                              "Curves (*.json *.csv);;All files (*)")
        if path:
            self.load(Path(path), pose)

    def load(self, path: Path, pose: bool) -> None:
        try:
            self.replace_curves(cm.load_pose(path) if pose else {"strength": cm.load_strength(path)})
            self.message.emit(f"loaded {path.name}")
        except cm.CurveFileError as exc:
            self.message.emit(str(exc))
