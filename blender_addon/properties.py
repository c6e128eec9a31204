"""The add-on's settings: one PropertyGroup on the Scene (``scene.eamm``)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

# Keyframeable curves: (property, min, max); sampled at the model's 25 fps times.
CURVE_PROPS = (("strength", 0.0, 2.0), ("yaw", -90.0, 90.0), ("pitch", -90.0, 90.0), ("roll", -90.0, 90.0),
               ("scale", 0.1, 4.0), ("offset_x", -1.0, 1.0), ("offset_y", -1.0, 1.0))
POSE_PROPS = ("yaw", "pitch", "roll", "scale", "offset_x", "offset_y")


class EAMM_Settings(bpy.types.PropertyGroup):
    """Inputs, curves, engine and output of one EAMM job for this scene."""

    portrait_source: EnumProperty(name="Portrait", items=(
        ("FILE", "File", "An image file on disk"), ("IMAGE", "Image", "An Image datablock in this .blend")))
    portrait_path: StringProperty(name="Portrait file", subtype="FILE_PATH",
                                  description="Photo or painting with one clearly visible face")
    portrait_image: PointerProperty(name="Portrait image", type=bpy.types.Image)
    audio_source: EnumProperty(name="Audio", items=(
        ("STRIP", "Sound strip", "A sound strip in this scene's sequencer"),
        ("FILE", "File", "An audio file; a sound strip is added at the scene start")))
    audio_strip: StringProperty(name="Sound strip", description="Name of the sound strip that drives the mouth")
    audio_path: StringProperty(name="Audio file", subtype="FILE_PATH")
    emotion_source: EnumProperty(name="Emotion", items=(
        ("NONE", "Neutral", "No emotion: talk only"),
        ("PRESET", "Preset", "A bundled emotion preset"),
        ("FILE", "Clip", "An emotion video clip or a preset file (.npz)")), default="PRESET")
    emotion_preset: StringProperty(name="Preset", default="happy",
                                   description="Name of a preset bundled with eamm-server (e.g. happy, sad)")
    emotion_path: StringProperty(name="Emotion clip", subtype="FILE_PATH")
    engine: EnumProperty(name="Engine", items=(
        ("landmark", "Landmark", "Runs anywhere, no model weights"),
        ("neural", "Neural", "The EAMM networks (needs installed model weights)")))
    model: StringProperty(name="Model", description="Model name for the neural engine (empty: the default)")
    landmarks: EnumProperty(name="Landmarks", default="dlib68", items=(
        ("dlib68", "dlib 68", "dlib's 68-point model (its training data is for non-commercial use only)"),
        ("mediapipe478", "MediaPipe 478", "MediaPipe's face mesh (Apache-2.0: fine for commercial work)")),
        description="Face landmark model that finds the face and tracks the emotion clip")
    seed: IntProperty(name="Seed", default=0, min=0)
    strength: FloatProperty(name="Emotion strength", default=1.0, min=0.0, max=2.0, options={"ANIMATABLE"},
                            description="How much of the emotion to apply (keyframe it)")
    yaw: FloatProperty(name="Yaw (°)", default=0.0, min=-90.0, max=90.0, options={"ANIMATABLE"})
    pitch: FloatProperty(name="Pitch (°)", default=0.0, min=-90.0, max=90.0, options={"ANIMATABLE"})
    roll: FloatProperty(name="Roll (°)", default=0.0, min=-90.0, max=90.0, options={"ANIMATABLE"})
    scale: FloatProperty(name="Scale", default=1.0, min=0.1, max=4.0, options={"ANIMATABLE"},
                         description="Head size, 1 = the portrait's own")
    offset_x: FloatProperty(name="Offset X", default=0.0, min=-1.0, max=1.0, options={"ANIMATABLE"},
                            description="Head offset, fraction of the face crop width, + right")
    offset_y: FloatProperty(name="Offset Y", default=0.0, min=-1.0, max=1.0, options={"ANIMATABLE"},
                            description="Head offset, fraction of the face crop width, + down")
    use_pose: BoolProperty(name="Drive head pose", default=False,
                           description="Send the pose curves; off: the head keeps the portrait's pose")
    blink: BoolProperty(name="Blink", default=True)
    idle_motion: BoolProperty(name="Idle motion", default=False)
    paste_back: BoolProperty(name="Paste back", default=False,
                             description="Frames at the portrait's full size instead of the face crop")
    size: EnumProperty(name="Resolution", default="auto", items=(
        ("auto", "Auto", "From the face's size in the portrait (256, 512 or 1024 px): no upscaling, no lost detail"),
        ("256", "256 px", "Face crop of 256 x 256 pixels"),
        ("512", "512 px", "Face crop of 512 x 512 pixels"),
        ("1024", "1024 px", "Face crop of 1024 x 1024 pixels"),
        ("2048", "2048 px", "Face crop of 2048 x 2048 pixels (slow; for very large portraits)")),
        description="Face resolution of the frames (the neural engine renders at 256 and enlarges)")
    output_dir: StringProperty(name="Output folder", subtype="DIR_PATH", default="//eamm/{blend}/",
                               description="Where frames go; {blend} = .blend name, {scene} = scene name")
    channel: IntProperty(name="Target channel", default=0, min=0, max=128,
                         description="Channel for the image strip; 0 = the first free one above the audio")
    # Runtime status (saved with the .blend so Import works after reloading).
    job_id: StringProperty(name="Job")
    job_state: StringProperty(name="State")
    status: StringProperty(name="Status")
    message: StringProperty(name="Message")
    message_kind: StringProperty(name="Message kind")
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")


classes = (EAMM_Settings,)


_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    _register_classes()
    bpy.types.Scene.eamm = PointerProperty(type=EAMM_Settings)


def unregister():
    if hasattr(bpy.types.Scene, "eamm"):
        del bpy.types.Scene.eamm
    _unregister_classes()
