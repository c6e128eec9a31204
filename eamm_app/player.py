"""Frame player: shows a job's frames as they arrive, then plays the finished clip with its sound.

The picture is always the job's PNG frames; the clock decides which one is shown. With an audio
output device the clock is a ``QMediaPlayer`` playing the MP4's sound (frame = floor(position_ms ·
25 / 1000) + first frame), so picture and sound stay in sync; without one (headless machines, CI)
it is a wall clock (``QElapsedTimer``). Frame stepping, scrubbing and looping work with both.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStyle,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)
FPS = 25


def has_audio_output() -> bool:
    try:
        from PySide6.QtMultimedia import QMediaDevices
    except ImportError:
        return False
    return bool(QMediaDevices.audioOutputs())


class ImageView(QLabel):
    """A label that scales its image to fit, keeping the aspect ratio."""

    def __init__(self, placeholder: str, parent: QWidget | None = None):
        super().__init__(placeholder, parent)
        self._image: QImage | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setObjectName("imageview")

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self._rescale()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._image is None or self._image.isNull():
            self.setPixmap(QPixmap())
            return
        pix = QPixmap.fromImage(self._image)
        self.setPixmap(pix.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))


class Player(QWidget):
    """Source portrait and result side by side, with play/pause, step, scrub and loop."""

    frame_shown = Signal(int)

    def __init__(self, parent: QWidget | None = None, *, use_audio: bool | None = None):
        super().__init__(parent)
        self.frames: dict[int, QImage] = {}
        self.current: int | None = None
        self.media: Path | None = None
        self.use_audio = has_audio_output() if use_audio is None else use_audio
        self._media_player = None
        self._clock = QElapsedTimer()
        self._clock_origin = 0
        self._audio_start = 0
        self._tick = QTimer(self)
        self._tick.setInterval(10)
        self._tick.timeout.connect(self._on_tick)
        self._build()

    def _build(self) -> None:
        self.source = ImageView("source portrait")
        self.view = ImageView("result frames appear here")
        views = QHBoxLayout()
        for caption, view in (("Source portrait", self.source), ("Result", self.view)):
            column = QVBoxLayout()
            title = QLabel(caption)
            title.setObjectName("caption")
            column.addWidget(title)
            column.addWidget(view, 1)
            views.addLayout(column, 1)
        st = self.style()
        self.play_button = QPushButton(st.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "")
        self.back_button = QPushButton(st.standardIcon(QStyle.StandardPixmap.SP_MediaSkipBackward), "")
        self.next_button = QPushButton(st.standardIcon(QStyle.StandardPixmap.SP_MediaSkipForward), "")
        self.play_button.setToolTip("Play / pause (with sound when the clip is finished)")
        self.back_button.setToolTip("Previous frame")
        self.next_button.setToolTip("Next frame")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.loop = QCheckBox("Loop")
        self.loop.setChecked(True)
        self.label = QLabel("no frames")
        controls = QHBoxLayout()
        for w in (self.back_button, self.play_button, self.next_button):
            controls.addWidget(w)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.label)
        controls.addWidget(self.loop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(views, 1)
        layout.addLayout(controls)
        self.play_button.clicked.connect(self.toggle_play)
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.slider.valueChanged.connect(self._on_slider)

    # --- content -------------------------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    @property
    def first(self) -> int:
        return min(self.frames) if self.frames else 0

    @property
    def last(self) -> int:
        return max(self.frames) if self.frames else 0

    def set_source(self, image: QImage | None) -> None:
        self.source.set_image(image)

    def clear(self) -> None:
        self.stop()
        self.frames.clear()
        self.current = None
        self.release_media()
        self.view.set_image(None)
        self.slider.setRange(0, 0)
        self.label.setText("no frames")

    def add_frame(self, index: int, image: QImage, *, follow: bool = True) -> None:
        """A frame arrived; while not playing, the newest one is shown (``follow``)."""
        self.frames[int(index)] = image
        self.slider.blockSignals(True)
        self.slider.setRange(self.first, self.last)
        self.slider.blockSignals(False)
        if follow and not self.is_playing():
            self.show_frame(int(index))

    def release_media(self) -> None:
        """Stop and unload the clip (Qt's FFmpeg backend can hang when a loaded player is destroyed)."""
        self.media = None
        if self._media_player is not None:
            self._media_player.stop()
            self._media_player.setSource(QUrl())

    def set_media(self, mp4: Path | None) -> None:
        """The finished clip: its sound drives playback when an audio device exists."""
        self.media = Path(mp4) if mp4 else None
        if self.media is None or not self.use_audio:
            return
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        except ImportError:
            self.use_audio = False
            return
        if self._media_player is None:
            self._media_player = QMediaPlayer(self)
            self._audio = QAudioOutput(self)
            self._media_player.setAudioOutput(self._audio)
            self._media_player.mediaStatusChanged.connect(self._on_media_status)
        self._media_player.setSource(QUrl.fromLocalFile(str(self.media)))

    # --- navigation ----------------------------------------------------------------------------

    def show_frame(self, index: int) -> None:
        if not self.frames:
            return
        index = min(max(int(index), self.first), self.last)
        image = self.frames.get(index)
        if image is None:  # not arrived yet: the nearest earlier one
            earlier = [f for f in self.frames if f <= index]
            image = self.frames[max(earlier)] if earlier else None
        self.current = index
        self.view.set_image(image)
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.label.setText(f"frame {index} · {index / FPS:5.2f} s · {self.frame_count} frames")
        self.frame_shown.emit(index)

    def step(self, delta: int) -> None:
        self.pause()
        self.show_frame((self.current if self.current is not None else self.first) + delta)

    def _on_slider(self, value: int) -> None:
        self.show_frame(value)
        if self.is_playing():
            self._restart_clock(value)

    # --- clock ---------------------------------------------------------------------------------

    def _audio_clock(self) -> bool:
        if not (self.use_audio and self._media_player is not None and self.media is not None):
            return False
        from PySide6.QtMultimedia import QMediaPlayer

        return self._media_player.error() == QMediaPlayer.Error.NoError

    def is_playing(self) -> bool:
        return self._tick.isActive()

    def toggle_play(self) -> None:
        self.pause() if self.is_playing() else self.play()

    def play(self) -> None:
        if not self.frames:
            return
        start = self.current if self.current is not None and self.current < self.last else self.first
        self._restart_clock(start)
        self._tick.start()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))

    def pause(self) -> None:
        self._tick.stop()
        if self._media_player is not None:
            self._media_player.pause()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))

    def stop(self) -> None:
        self.pause()

    def _restart_clock(self, frame: int) -> None:
        self._clock_origin = frame
        self._clock.restart()
        if self._audio_clock():
            self._audio_start = int((frame - self.first) * 1000 / FPS)
            self._media_player.setPosition(self._audio_start)
            self._media_player.play()

    def clock_frame(self) -> int:
        """The frame the clock is on now."""
        if self._audio_clock():
            return self.first + int(self._media_player.position() * FPS // 1000)
        return self._clock_origin + int(self._clock.elapsed() * FPS // 1000)

    def _on_tick(self) -> None:
        if self._audio_clock() and self._clock.elapsed() > 750 and self._media_player.position() == self._audio_start:
            log.info("the audio clock does not advance: playing on the wall clock")
            self._media_player.pause()
            self.use_audio = False
            self._restart_clock(self.current if self.current is not None else self.first)
        frame = self.clock_frame()
        if frame > self.last:
            if self.loop.isChecked():
                self._restart_clock(self.first)
                frame = self.first
            else:
                self.show_frame(self.last)
                self.pause()
                return
        if frame != self.current:
            self.show_frame(frame)

    def _on_media_status(self, status) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if status == QMediaPlayer.MediaStatus.EndOfMedia and self.is_playing():
            if self.loop.isChecked():
                self._restart_clock(self.first)
            else:
                self.pause()
