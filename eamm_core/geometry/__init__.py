"""Face geometry shared by prepare and the engines: the 68-point template and 2D similarity fit
(:mod:`.face2d`), a 3D mean face with weak-perspective pose fitting (:mod:`.head3d`), and the
artist <-> 3DDFA pose units (:mod:`.pose_units`). Depends on nothing else in ``eamm_core`` but
:mod:`eamm_core.errors`."""
