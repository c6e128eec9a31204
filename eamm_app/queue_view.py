"""The server's queue: every job with its state, progress, timings and error; cancel, resume,
delete, and open its output folder (downloading the result there first when needed)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from eamm_app.tasks import TaskRunner

COLUMNS = ("Job", "State", "Stage", "Progress", "Engine", "Created", "Queued", "Ran", "Error")
STATE_COLOURS = {"done": "#8fd18f", "failed": "#ff7b72", "cancelled": "#d6b45a", "interrupted": "#d6b45a",
                 "running": "#79c0ff", "queued": "#c8c8c8"}


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def timings(status: dict) -> tuple[str, str]:
    """("queued for", "ran for") as short texts, from the ISO times of a status."""
    created, started, finished = (_time(status.get(k)) for k in ("created", "started", "finished"))
    queued = f"{(started - created).total_seconds():.1f} s" if created and started else ""
    ran = f"{(finished - started).total_seconds():.1f} s" if started and finished else ("…" if started else "")
    return queued, ran


def progress_text(status: dict) -> str:
    total = int(status.get("frames_total") or 0)
    done = int(status.get("frames_done") or 0)
    pct = 100 * done // total if total else 0
    eta = status.get("eta_s")
    return f"{done}/{total} ({pct} %)" + (f", {eta:.0f} s left" if isinstance(eta, (int, float)) else "")


class QueueView(QWidget):
    """Refreshes every second while shown (and on demand); ``job_resumed(status)`` when a job was resumed."""

    job_resumed = Signal(dict)
    message = Signal(str)

    def __init__(self, runner: TaskRunner, client_fn, output_dir_fn, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.client_fn, self.output_dir_fn = runner, client_fn, output_dir_fn
        self.jobs: list[dict] = []
        self._loading = False
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.buttons = {}
        bar = QHBoxLayout()
        for name, slot in (("Refresh", self.refresh), ("Cancel", self.cancel_selected), ("Resume", self.resume_selected),
                           ("Delete", self.delete_selected), ("Open output folder", self.open_selected)):
            b = QPushButton(name)
            b.clicked.connect(slot)
            bar.addWidget(b)
            self.buttons[name] = b
        bar.addStretch(1)
        self.info = QLabel("")
        bar.addWidget(self.info)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self._auto_refresh)
        self.timer.start()

    def _auto_refresh(self) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        if self._loading:
            return
        self._loading = True
        self.runner.submit(self.client_fn().jobs, on_done=self._loaded, on_error=self._load_failed)

    def _load_failed(self, exc: Exception) -> None:
        self._loading = False
        self.info.setText(f"✖ {exc}")

    def _loaded(self, jobs: list[dict]) -> None:
        self._loading = False
        selected = self.selected_id()
        self.jobs = jobs
        self.table.setRowCount(len(jobs))
        for row, status in enumerate(jobs):
            queued, ran = timings(status)
            cells = (status.get("id", ""), status.get("state", ""), status.get("stage", ""), progress_text(status),
                     status.get("engine", ""), (status.get("created") or "")[:19].replace("T", " "), queued, ran,
                     status.get("error") or "; ".join(status.get("warnings") or []))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                if col == 1:
                    item.setForeground(QColor(STATE_COLOURS.get(status.get("state"), "#c8c8c8")))
                if col == len(cells) - 1 and status.get("error"):
                    item.setToolTip(status["error"])
                self.table.setItem(row, col, item)
            if status.get("id") == selected:
                self.table.selectRow(row)
        for col in range(len(COLUMNS) - 1):
            self.table.resizeColumnToContents(col)
        self.info.setText(f"{len(jobs)} job(s)")

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return item.text() if item else None

    def select(self, job_id: str) -> bool:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0) and self.table.item(row, 0).text() == job_id:
                self.table.selectRow(row)
                return True
        return False

    def _act(self, fn_name: str, done=None) -> None:
        job_id = self.selected_id()
        if job_id is None:
            self.info.setText("select a job first")
            return
        client = self.client_fn()

        def finished(result):
            if done:
                done(result)
            self.refresh()

        self.runner.submit(getattr(client, fn_name), job_id, on_done=finished,
                           on_error=lambda exc: self.info.setText(f"✖ {exc}"))

    def cancel_selected(self) -> None:
        self._act("cancel")

    def resume_selected(self) -> None:
        self._act("resume", self.job_resumed.emit)

    def delete_selected(self) -> None:
        self._act("delete")

    def open_selected(self) -> None:
        job_id = self.selected_id()
        if job_id is None:
            self.info.setText("select a job first")
            return
        folder = self.output_dir_fn() / job_id
        status = next((j for j in self.jobs if j.get("id") == job_id), {})
        if (folder / "result.mp4").is_file() or status.get("state") != "done":
            self._open(folder)
            return
        from eamm_app.generation import download_result

        self.info.setText(f"downloading {job_id}…")
        self.runner.submit(download_result, self.client_fn(), job_id, folder, bool(status.get("outputs", {}).get("mp4")),
                           on_done=lambda _r: self._open(folder), on_error=lambda exc: self.info.setText(f"✖ {exc}"))

    def _open(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.info.setText(str(folder))
        self.message.emit(f"output folder: {folder}")
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
