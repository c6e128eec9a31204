"""Operators (Generate, Cancel, Import, server control) and the timer that collects the worker threads' results.

Every operator returns at once: network and process work runs in :mod:`worker` threads."""

from __future__ import annotations

import atexit
import queue
import time

import bpy

from . import blend, bundled, jobs, preferences, worker
from .client import ClientError
from .preferences import get as get_prefs
from .state import AddonError

POLL_INTERVAL = 0.2
DRAIN_BUDGET_S = 0.15  # a timer tick stops draining events after this long (the rest wait a tick)
SERVER = {"ok": False, "line": "server not checked yet", "kind": ""}
_FLOWS: dict[str, worker.Flow] = {}  # scene name -> the Flow working for it
_TASKS: dict[int, str] = {}  # token -> kind of a small task in flight (health, start_server, cancel)


def _report_error(op, scene, exc: Exception) -> set[str]:
    kind = getattr(exc, "kind", "input")
    jobs.set_message(scene, str(exc), kind)
    if kind in ("not_running", "token", "host"):
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


def busy(scene) -> bool:
    """A Flow works for this scene (uploading, polling or downloading)."""
    return scene.name in _FLOWS


def start_flow(scene, flow: worker.Flow) -> None:
    _FLOWS[scene.name] = flow
    flow.start()
    start_polling()


def start_task(kind: str, fn, *args) -> None:
    token = worker.new_token()
    _TASKS[token] = kind
    worker.run_task(token, kind, fn, *args)
    start_polling()


def _server_line(info: dict) -> str:
    """``connected · bundled · landmark · cpu`` or ``connected · http://host:port · neural, landmark · cuda``."""
    engines = ", ".join(k for k, v in (info.get("engines") or {}).items() if v is True) or "no engine"
    where = "bundled" if worker.server_process() is not None and preferences.bundled_in_use(get_prefs()) \
        else info.get("url", "?")
    return f"connected · {where} · {engines} · {info.get('device', '?')}"


def _task_done(kind: str, payload: dict) -> None:
    exc = payload.get("error")
    if kind == "cancel":
        return  # the scene already says cancelled
    if exc is not None:
        line = f"{exc} (log: {worker.log_path()})" if kind == "start_server" else str(exc)
        SERVER.update(ok=False, line=line, kind=getattr(exc, "kind", "server"))
        return
    info = payload["result"]
    SERVER.update(ok=True, kind="", line=_server_line(info))
    if info.get("presets") is not None:
        SERVER["presets"] = info["presets"]
    else:
        SERVER.pop("presets", None)


def _dispatch(token: int, kind: str, payload: dict) -> None:
    if token in _TASKS and kind == "setup":  # the bundled server being unpacked for Start server
        SERVER.update(ok=False, kind="", line=payload["line"])
        return
    if token in _TASKS:
        _task_done(_TASKS.pop(token), payload)
        return
    name = next((n for n, f in _FLOWS.items() if f.token == token), None)
    scene = bpy.data.scenes.get(name) if name is not None else None
    if scene is None or getattr(scene, "eamm", None) is None:
        return  # from a cancelled or abandoned flow: dropped
    try:
        ended = jobs.finish(scene, kind, payload)
    except (ClientError, AddonError) as exc:
        jobs.set_message(scene, str(exc), getattr(exc, "kind", "input"))
        ended = True
    if kind == "error" and getattr(payload["error"], "kind", "") in ("not_running", "token", "host"):
        SERVER.update(ok=False, line=str(payload["error"]), kind=payload["error"].kind)
    if ended:
        _FLOWS.pop(name, None)


def poll_jobs() -> float | None:
    """The timer callback: writes what the worker threads report into the scenes; None (stop) when
    nothing is in flight. Never waits: it only drains the event queue."""
    deadline = time.monotonic() + DRAIN_BUDGET_S
    while time.monotonic() < deadline:
        try:
            token, kind, payload = worker.EVENTS.get_nowait()
        except queue.Empty:
            break
        _dispatch(token, kind, payload)
    active = bool(_FLOWS or _TASKS)
    scenes = [bpy.data.scenes.get(n) for n in _FLOWS]
    _progress(max((s.eamm.progress for s in scenes if s is not None), default=0.0) if active else None)
    _redraw()
    return POLL_INTERVAL if active else None


def start_polling() -> None:
    if not bpy.app.timers.is_registered(poll_jobs):
        # persistent: a load drops the flows itself (_on_load), and the next tick then stops the timer;
        # a non-persistent timer removed by a file load left the bpy 4.5 module hanging at exit
        bpy.app.timers.register(poll_jobs, first_interval=POLL_INTERVAL, persistent=True)


def stop_polling() -> None:
    if bpy.app.timers.is_registered(poll_jobs):
        bpy.app.timers.unregister(poll_jobs)


def abandon_all() -> None:
    """Forget every flow and task (their late events are dropped); jobs go on on the server."""
    for flow in _FLOWS.values():
        flow.abandon()
    _FLOWS.clear()
    _TASKS.clear()


@bpy.app.handlers.persistent
def _on_load(*_args) -> None:
    """Another .blend was loaded: drop what the old one had in flight; no state claims a flow."""
    abandon_all()
    for scene in bpy.data.scenes:
        s = getattr(scene, "eamm", None)
        if s is not None and s.job_state in jobs.LOCAL_STATES:
            s.job_state = "done" if s.job_state == "downloading" else ("unreachable" if s.job_id else "")


def _start_and_wait(args: list[str], client, setup_dir=None, token: int = 0) -> dict:
    if setup_dir is not None:
        bundled.ensure(setup_dir, lambda part, line: worker.EVENTS.put((token, "setup", {"line": line})))
    proc = worker.start_server(args)
    worker.wait_for_server(client, 60.0, proc)
    return worker.health(client)


class EAMM_OT_generate(bpy.types.Operator):
    """Send the portrait, audio, emotion and curves to eamm-server and start the job"""

    bl_idname = "eamm.generate"
    bl_label = "Generate"

    @classmethod
    def poll(cls, context):
        s = context.scene.eamm
        if busy(context.scene) or s.job_state in ("queued", "running"):
            cls.poll_message_set("a job is running: wait for it or cancel it")
            return False
        if (s.portrait_source == "FILE" and not s.portrait_path) or (s.portrait_source == "IMAGE"
                                                                     and not s.portrait_image):
            cls.poll_message_set("choose a portrait first")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        prefs = get_prefs(context)
        client = jobs.make_client(context)
        start_args = down = None
        try:
            if prefs.auto_start:
                try:
                    start_args = jobs.launch_args(prefs, client.base_url, automatic=True)
                except AddonError as exc:
                    down = str(exc)  # said only if no server answers there
            spec = jobs.prepare(scene, client, start_args, down)
            if start_args and preferences.bundled_in_use(prefs):
                spec.setup_dir = preferences.setup_dir()
        except (ClientError, AddonError) as exc:
            return _report_error(self, scene, exc)
        s = scene.eamm
        s.job_id, s.job_state, s.status, s.progress = "", "uploading", "preparing…", 0.0
        jobs.set_message(scene, "")
        start_flow(scene, worker.Flow(client, spec))
        return {"FINISHED"}


class EAMM_OT_cancel(bpy.types.Operator):
    """Cancel what is in flight: an upload is abandoned, a submitted job is cancelled on the server"""

    bl_idname = "eamm.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        if not busy(context.scene) and context.scene.eamm.job_state not in ("queued", "running"):
            cls.poll_message_set("no job is running")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        s = scene.eamm
        flow = _FLOWS.pop(scene.name, None)
        if flow is not None:
            flow.cancel()  # its thread abandons the transfer and cancels the job on the server
        elif s.job_id:
            start_task("cancel", jobs.make_client(context).cancel, s.job_id)
        s.job_state, s.status = "cancelled", "cancelled"
        jobs.set_message(scene, "cancelled (frames made so far stay on the server)", "INFO")
        return {"FINISHED"}


class EAMM_OT_import(bpy.types.Operator):
    """Download the job's frames (waiting for it if it still runs) and put them in as an image strip"""

    bl_idname = "eamm.import_strip"
    bl_label = "Import"

    @classmethod
    def poll(cls, context):
        s = context.scene.eamm
        if busy(context.scene) or not s.job_id or s.job_state not in ("done", "unreachable", "queued", "running"):
            cls.poll_message_set("no finished job: generate first")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        try:
            flow = jobs.resume_flow(scene, jobs.make_client(context))
        except (ClientError, AddonError) as exc:
            return _report_error(self, scene, exc)
        scene.eamm.status = "asking eamm-server for the job…"
        jobs.set_message(scene, "")
        start_flow(scene, flow)
        return {"FINISHED"}


class EAMM_OT_check_server(bpy.types.Operator):
    """Ask eamm-server for its version, engines and device (and follow the current job again)"""

    bl_idname = "eamm.check_server"
    bl_label = "Check server"

    def execute(self, context):
        client = jobs.make_client(context)
        SERVER.update(line=f"checking {client.base_url}…")
        start_task("health", worker.health, client)
        scene = context.scene
        if scene.eamm.job_state in ("queued", "running", "unreachable") and not busy(scene):
            try:
                start_flow(scene, jobs.resume_flow(scene, client))
            except AddonError:
                pass  # nothing recorded on disk: only the status line is refreshed
        return {"FINISHED"}


class EAMM_OT_start_server(bpy.types.Operator):
    """Start eamm-server on the Server URL's port with the command from the add-on preferences"""

    bl_idname = "eamm.start_server"
    bl_label = "Start server"

    def execute(self, context):
        client = jobs.make_client(context)
        try:
            args = jobs.launch_args(get_prefs(context), client.base_url)
        except AddonError as exc:
            return _report_error(self, context.scene, exc)
        setup = preferences.setup_dir() if preferences.bundled_in_use(get_prefs(context)) else None
        first = setup is not None and not bundled.is_ready(setup)
        SERVER.update(ok=False, kind="", line="setting up the bundled server (first use)…" if first
                      else f"starting eamm-server on {client.base_url}…")
        token = worker.new_token()
        _TASKS[token] = "start_server"
        worker.run_task(token, "start_server", _start_and_wait, args, client, setup, token)
        start_polling()
        jobs.set_message(context.scene, "")
        return {"FINISHED"}


class EAMM_OT_stop_server(bpy.types.Operator):
    """Stop the eamm-server this Blender started"""

    bl_idname = "eamm.stop_server"
    bl_label = "Stop server"

    @classmethod
    def poll(cls, context):
        if worker.server_process() is None:
            cls.poll_message_set("this Blender did not start a server")
            return False
        return True

    def execute(self, context):
        worker.stop_server()
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
    bpy.app.handlers.load_post.append(_on_load)
    atexit.register(worker.stop_server)  # Blender quits: the started server stops (it also watches its stdin)


def unregister():
    """Never waits: flows are abandoned, the started server is told to stop (it also watches its stdin)."""
    stop_polling()
    abandon_all()
    worker.stop_server()
    atexit.unregister(worker.stop_server)
    if _on_load in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load)
    _unregister_classes()
