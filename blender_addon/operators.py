"""Operators (Generate, Cancel, Import, server control) and the timer that polls running jobs."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import bpy

from . import blend, jobs
from .client import ClientError
from .preferences import get as get_prefs
from .state import FINAL_STATES, AddonError

POLL_INTERVAL = 0.5
SERVER = {"ok": False, "line": "server not checked yet", "kind": ""}
_PROCESS: dict[str, subprocess.Popen] = {}
_PENDING: set[str] = set()  # scenes waiting for an auto-started server before submitting


def _report_error(op, scene, exc: Exception) -> set[str]:
    kind = getattr(exc, "kind", "input")
    jobs.set_message(scene, str(exc), kind)
    if kind in ("not_running", "token"):
        SERVER.update(ok=False, line=str(exc), kind=kind)
    op.report({"ERROR"}, str(exc))
    return {"CANCELLED"}


def _redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", ()):
        for area in window.screen.areas:
            if area.type in ("SEQUENCE_EDITOR", "VIEW_3D"):
                area.tag_redraw()


def _progress(value: float | None) -> None:
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None:
        return
    try:
        if value is None:
            wm.progress_end()
        else:
            wm.progress_begin(0.0, 1.0)
            wm.progress_update(value)
    except (RuntimeError, AttributeError):  # no window (bpy module, background)
        pass


def check_server(context=None) -> bool:
    client = jobs.make_client(context)
    try:
        h = client.health()
    except ClientError as exc:
        SERVER.update(ok=False, line=str(exc), kind=exc.kind)
        return False
    engines = ", ".join(k for k, v in (h.get("engines") or {}).items() if v is True) or "no engine"
    SERVER.update(ok=True, kind="", line=f"connected · eamm-server {h.get('server_version', '?')} · "
                                         f"{engines} · {h.get('device', '?')}")
    try:
        SERVER["presets"] = client.presets()
    except ClientError:  # an older server, or a token problem that Generate will report
        SERVER.pop("presets", None)
    return True


def poll_jobs() -> float | None:
    """The timer callback: one poll of every scene's running job; None (stop) when none is left."""
    active = False
    for scene in bpy.data.scenes:
        s = getattr(scene, "eamm", None)
        if s is None:
            continue
        if scene.name in _PENDING:
            active |= _submit_when_ready(scene)
            continue
        if not s.job_id or s.job_state not in ("queued", "running"):
            continue
        try:
            status = jobs.poll(scene, jobs.make_client())
            if status.get("state") == "done":
                jobs.import_result(scene, jobs.make_client())
            elif status.get("state") in FINAL_STATES:
                jobs.set_message(scene, f"job {s.job_id} {s.status}", "job")
            else:
                active = True
        except (ClientError, AddonError) as exc:
            jobs.set_message(scene, str(exc), getattr(exc, "kind", "input"))
    _progress(max((s.eamm.progress for s in bpy.data.scenes if getattr(s, "eamm", None)
                   and s.eamm.job_state in ("queued", "running")), default=None) if active else None)
    _redraw()
    return POLL_INTERVAL if active else None


def _submit_when_ready(scene) -> bool:
    """For auto-start: submit once the server answers; gives up after the server process exits."""
    client = jobs.make_client()
    try:
        client.health()
    except ClientError as exc:
        proc = _PROCESS.get("server")
        if proc is None or proc.poll() is not None:
            _PENDING.discard(scene.name)
            jobs.set_message(scene, f"eamm-server did not start (see {_log_path()}): {exc}", "not_running")
            return False
        return True
    _PENDING.discard(scene.name)
    try:
        jobs.submit(scene, client)
    except (ClientError, AddonError) as exc:
        jobs.set_message(scene, str(exc), getattr(exc, "kind", "input"))
        return False
    return True


def start_polling() -> None:
    if not bpy.app.timers.is_registered(poll_jobs):
        bpy.app.timers.register(poll_jobs, first_interval=POLL_INTERVAL)


def stop_polling() -> None:
    if bpy.app.timers.is_registered(poll_jobs):
        bpy.app.timers.unregister(poll_jobs)


def _log_path() -> Path:
    return Path(tempfile.gettempdir()) / "eamm-server-blender.log"


def start_server(context=None, url: str | None = None) -> subprocess.Popen:
    """Start eamm-server (once) as the preferences say; output goes to a log file in the temp folder."""
    proc = _PROCESS.get("server")
    if proc is not None and proc.poll() is None:
        return proc
    args = jobs.server_args(get_prefs(context), url)
    log = open(_log_path(), "ab")
    try:
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                creationflags=flags)
    except OSError as exc:
        raise AddonError(f"cannot start eamm-server with {args[0]!r} ({exc.strerror or exc}): set the server "
                         "command or Python in the add-on preferences", "not_running") from None
    finally:
        log.close()
    _PROCESS["server"] = proc
    return proc


def stop_server() -> bool:
    proc = _PROCESS.pop("server", None)
    if proc is None or proc.poll() is not None:
        return False
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    return True


class EAMM_OT_generate(bpy.types.Operator):
    """Send the portrait, audio, emotion and curves to eamm-server and start the job"""

    bl_idname = "eamm.generate"
    bl_label = "Generate"

    @classmethod
    def poll(cls, context):
        s = context.scene.eamm
        if s.job_state in ("queued", "running") or context.scene.name in _PENDING:
            cls.poll_message_set("a job is running: wait for it or cancel it")
            return False
        if (s.portrait_source == "FILE" and not s.portrait_path) or (s.portrait_source == "IMAGE"
                                                                     and not s.portrait_image):
            cls.poll_message_set("choose a portrait first")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        client = jobs.make_client(context)
        try:
            try:
                jobs.submit(scene, client)
            except ClientError as exc:
                if exc.kind != "not_running" or not get_prefs(context).auto_start:
                    raise
                start_server(context)
                _PENDING.add(scene.name)
                jobs.set_message(scene, "starting eamm-server; the job is sent as soon as it answers", "INFO")
        except (ClientError, AddonError) as exc:
            return _report_error(self, scene, exc)
        start_polling()
        return {"FINISHED"}


class EAMM_OT_cancel(bpy.types.Operator):
    """Cancel the running job (frames made so far are kept)"""

    bl_idname = "eamm.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        if context.scene.eamm.job_state not in ("queued", "running"):
            cls.poll_message_set("no job is running")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        try:
            jobs.apply_status(scene, jobs.make_client(context).cancel(scene.eamm.job_id))
        except ClientError as exc:
            return _report_error(self, scene, exc)
        return {"FINISHED"}


class EAMM_OT_import(bpy.types.Operator):
    """Download the finished job's frames and put them in as an image strip in sync with the audio"""

    bl_idname = "eamm.import_strip"
    bl_label = "Import"

    @classmethod
    def poll(cls, context):
        if context.scene.eamm.job_state != "done":
            cls.poll_message_set("no finished job: generate first")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        try:
            jobs.import_result(scene, jobs.make_client(context))
        except (ClientError, AddonError) as exc:
            return _report_error(self, scene, exc)
        self.report({"INFO"}, scene.eamm.message)
        return {"FINISHED"}


class EAMM_OT_check_server(bpy.types.Operator):
    """Ask eamm-server for its version, engines and device (and poll the current job)"""

    bl_idname = "eamm.check_server"
    bl_label = "Check server"

    def execute(self, context):
        if check_server(context) and context.scene.eamm.job_state in ("queued", "running"):
            start_polling()
        return {"FINISHED"}


class EAMM_OT_start_server(bpy.types.Operator):
    """Start eamm-server with the command from the add-on preferences"""

    bl_idname = "eamm.start_server"
    bl_label = "Start server"

    def execute(self, context):
        try:
            start_server(context)
            jobs.wait_for_server(jobs.make_client(context), 20.0)
        except (ClientError, AddonError) as exc:
            self.report({"ERROR"}, f"{exc} (log: {_log_path()})")
            return {"CANCELLED"}
        check_server(context)
        jobs.set_message(context.scene, "")
        return {"FINISHED"}


class EAMM_OT_stop_server(bpy.types.Operator):
    """Stop the eamm-server this Blender started"""

    bl_idname = "eamm.stop_server"
    bl_label = "Stop server"

    @classmethod
    def poll(cls, context):
        proc = _PROCESS.get("server")
        if proc is None or proc.poll() is not None:
            cls.poll_message_set("this Blender did not start a server")
            return False
        return True

    def execute(self, context):
        stop_server()
        SERVER.update(ok=False, line="server stopped", kind="not_running")
        return {"FINISHED"}


class EAMM_OT_open_output(bpy.types.Operator):
    """Open the output folder in the file browser"""

    bl_idname = "eamm.open_output"
    bl_label = "Open output folder"

    def execute(self, context):
        try:
            path = blend.output_dir(context.scene)
        except AddonError as exc:
            return _report_error(self, context.scene, exc)
        path.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.path_open(filepath=str(path))
        return {"FINISHED"}


classes = (EAMM_OT_generate, EAMM_OT_cancel, EAMM_OT_import, EAMM_OT_check_server, EAMM_OT_start_server,
           EAMM_OT_stop_server, EAMM_OT_open_output)


_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    _register_classes()


def unregister():
    stop_polling()
    _PENDING.clear()
    stop_server()
    _unregister_classes()
