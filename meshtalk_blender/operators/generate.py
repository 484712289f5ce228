"""meshtalk.generate: speech -> face animation on a mesh.

From the panel (INVOKE) it runs the network in a background thread, shows progress in the
status bar, keeps the interface responsive and stops on Esc; the Blender data is written on
the main thread when the thread is done, as one undo step. From a script or `blender -b`
(EXEC) it runs synchronously. Explicit arguments override the panel's settings, so headless
calls need no UI state: bpy.ops.meshtalk.generate(object_name="Head", audio_path="x.wav").
"""

from __future__ import annotations

import threading
import traceback

import bpy
from bpy.props import BoolProperty, StringProperty

from .. import compat, pipeline
from ..errors import MeshTalkError
from ..properties import PLACEMENT_SETTINGS, SHARED, shared, to_settings

_job: _Job | None = None


def is_running() -> bool:
    return _job is not None and _job.thread.is_alive()


class _Job:
    """The compute step of one generation in a thread, with what the UI polls."""

    def __init__(self, plan: pipeline.Plan) -> None:
        self.plan = plan
        self.fraction = 0.0
        self.status = "starting"
        self.result: pipeline.Result | None = None
        self.error: str | None = None
        self.cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, name="MeshTalk", daemon=True)

    def start(self) -> _Job:
        self.thread.start()
        return self

    def _progress(self, fraction: float, status: str) -> None:
        self.fraction, self.status = fraction, status

    def _run(self) -> None:
        try:
            self.result = pipeline.compute(self.plan, self._progress, self.cancel.is_set)
        except pipeline.Cancelled:
            self.error = "cancelled"
        except MeshTalkError as exc:
            self.error = str(exc)
        except Exception as exc:  # shown to the user, with the traceback in the console
            traceback.print_exc()
            self.error = f"MeshTalk failed: {type(exc).__name__}: {exc}"


class MESHTALK_OT_generate(bpy.types.Operator):
    """Animate the target mesh from the sound strip's speech"""

    bl_idname = "meshtalk.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}

    __annotations__ = {
        "object_name": StringProperty(
            name="Object", description="Mesh object (default: the panel's)"
        ),
        "strip_name": StringProperty(name="Sound Strip", description="Sound strip name"),
        # plain strings, not FILE_PATH: operator paths may not be '//'-relative everywhere
        "audio_path": StringProperty(
            name="Audio File", description="Audio file instead of a strip"
        ),
        "animation_path": StringProperty(
            name="Animation File",
            description="A MeshTalk .npz animation to apply instead of running the network",
        ),
        "extend_scene": BoolProperty(
            name="Extend Scene",
            default=True,
            description="Move the scene's end frame out to the animation's last frame when it "
            "ends later (the range is never shortened)",
        ),
        **shared(operator=True),
    }

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and not is_running()

    def _request(self, context: bpy.types.Context) -> pipeline.Request:
        """Explicit arguments win; anything not given comes from the panel's settings."""
        settings = context.scene.meshtalk
        given = self.properties.is_property_set

        obj_name = self.object_name
        if not obj_name:
            obj = settings.target or context.active_object
            obj_name = obj.name if obj is not None else ""
        # every shared setting: the explicit argument if given, else the panel's
        for name in SHARED:
            if not given(name):
                setattr(self, name, getattr(settings, name))
        if not self.audio_path and not given("strip_name"):
            self.strip_name = settings.strip_name
        self.object_name = obj_name  # the Adjust Last Operation panel shows what was used
        request = pipeline.Request(
            object_name=obj_name,
            strip_name=self.strip_name,
            audio_path=self.audio_path,
            animation_path=self.animation_path,
            settings=to_settings(self, compat.scene_fps(context.scene)),
            extend_scene=self.extend_scene,
            **{name: getattr(self, name) for name in PLACEMENT_SETTINGS},
        )
        return request

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            message = pipeline.run(context, self._request(context))
        except MeshTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event) -> set[str]:
        global _job
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            plan = pipeline.plan(context, self._request(context))
        except MeshTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _job = _Job(plan).start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event) -> set[str]:
        job = _job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel.set()
            self._finish(context)
            self.report({"WARNING"}, "MeshTalk: cancelled, nothing was changed")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if job.thread.is_alive():
            context.window_manager.progress_update(int(100 * job.fraction))
            context.workspace.status_text_set(
                f"MeshTalk: {job.status} … {100 * job.fraction:.0f}%  (Esc to cancel)"
            )
            return {"RUNNING_MODAL"}
        self._finish(context)
        if job.error is not None:
            self.report({"ERROR"}, job.error)
            return {"CANCELLED"}
        try:  # the scene may have changed while the thread ran: check the target again
            plan = job.plan
            fresh = pipeline.plan(context, plan.request)
            if len(fresh.target.rest) != len(plan.target.rest):
                raise MeshTalkError(f"'{plan.request.object_name}' changed during generation")
            message = pipeline.apply(context, fresh, job.result)
        except MeshTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}

    def _finish(self, context: bpy.types.Context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)


CLASSES = (MESHTALK_OT_generate,)
