"""Engine-independent rendering helpers: paste-back of 256x256 frames into the original portrait."""

from eamm_core.render.paste_back import PasteBack, crop_weight, face_outline, paste_back, paste_back_plan

__all__ = ["PasteBack", "crop_weight", "face_outline", "paste_back", "paste_back_plan"]
