"""eamm_core: one-shot emotional talking faces (EAMM, SIGGRAPH 2022) as a library.

Layers (see docs/architecture.md):

* ``eamm_core.prepare``  — artist files -> model inputs (``PortraitCrop``, ``AudioFeatures``,
  ``PoseTrack``, ``EmotionClip``).
* ``eamm_core.engines``  — the two engines behind one interface (``landmark``, ``neural``).
* ``eamm_core.pipeline`` — prepare -> motion -> render -> output, with caching and resume.
* ``eamm_core.cli``      — the ``eamm`` command.

This package never imports bpy, fastapi or Qt.
"""

__version__ = "0.1.0"
MODEL_FPS = 25
CROP_SIZE = 256
NUM_KP = 10
