"""Stage 1, prepare: turn the artist's files into what the model reads (no model weights needed).

portrait -> :class:`~eamm_core.types.PortraitCrop` (:mod:`.portrait`), speech ->
:class:`~eamm_core.types.AudioFeatures` (:mod:`.audio`), pose -> :class:`~eamm_core.types.PoseTrack`
(:mod:`.pose`), emotion clip -> :class:`~eamm_core.types.EmotionClip` (:mod:`.emotion`).
:func:`eamm_core.stages.prepare_inputs` runs all of them for a :class:`~eamm_core.job.JobSpec` as a
job does.
"""
