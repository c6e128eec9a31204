"""The neural engine: EAMM's networks behind :class:`eamm_core.engines.base.Engine`.

Differences from the reference demo, on purpose (docs/engine-neural.md): the portrait is fed RGB
(the demo feeds OpenCV's BGR since commit ef0eab5); smoothing is switchable; everything runs in
batches; the emotion network reads the keypoints the pipeline passes (smoothed when smoothing is on;
the demo feeds it the unsmoothed ones), so results do not depend on which stages came from the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from eamm_core.engines.base import EmotionResult, Engine, EngineOptions
from eamm_core.engines.neural import checkpoint, optimize, smoothing
from eamm_core.engines.neural.models.keypoint_heads import KeypointTensors
from eamm_core.errors import EammError
from eamm_core.render.frame_size import enlarge, resolve_size
from eamm_core.types import AudioFeatures, EmotionClip, EmotionPreset, Keypoints, PortraitCrop, PoseTrack

log = logging.getLogger(__name__)

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    if name in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EammError(f"--device {name}: no CUDA GPU is available to PyTorch here; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise EammError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None


def images_to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [N,H,W,3] RGB → float32 [N,3,H,W] in [0,1] (no mean/std normalisation)."""
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


def relative_keypoints(kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
    """FOMM ``normalize_kp`` (relative movement and jacobian, no scale adaptation), with the first
    driving frame as the initial one: v = v_d − v_d[0] + v_s; J = J_d·J_d[0]⁻¹·J_s."""
    value = kp_driving.value - kp_driving.value[:1] + kp_source.value
    jac = np.matmul(np.matmul(kp_driving.jacobian, np.linalg.inv(kp_driving.jacobian[:1])), kp_source.jacobian)
    return Keypoints(value.astype(np.float32), jac.astype(np.float32))


class NeuralEngine(Engine):
    """EAMM's networks (E_k, A2FD, E_e + P_d, F + G) loaded from our model folder."""

    name = "neural"
    face_keypoints = (1, 4, 6)
    face_weights = (0.2, 1.0, 1.0)
    #: the networks are trained on 256x256 crops: frames for a larger ``options.size`` are enlarged
    native_size = 256

    def __init__(self, options: EngineOptions | None = None):
        super().__init__(options)  # sets self.options, which loads the model

    @property
    def options(self) -> EngineOptions:
        return self._options

    @options.setter
    def options(self, value: EngineOptions) -> None:
        """Setting new options (a kept engine running another job) reloads only when the model
        folder, device or precision changed."""
        old = getattr(self, "_options", None)
        self._options = value
        self.batch_size = max(1, int(value.batch_size))
        def what(o: EngineOptions) -> tuple:
            return o.model_dir, o.device, o.precision

        if old is None or what(old) != what(value):
            self._load()

    def _load(self) -> None:
        opts = self._options
        if opts.precision not in _DTYPES:
            raise EammError(f"unknown precision {opts.precision!r}: use fp32, bf16 or fp16")
        self.model_dir = Path(opts.model_dir) if opts.model_dir else checkpoint.default_model_dir()
        self.device = pick_device(opts.device)
        self.dtype = _DTYPES[opts.precision]
        self.net, self.manifest = checkpoint.load_model(self.model_dir, self.device)
        optimize.fold_batchnorm(self.net)
        if self.dtype != torch.float32:
            optimize.lower_precision(self.net.generator, self.dtype)
            optimize.lower_precision(self.net.emotion.extractor, self.dtype)
        else:
            self.net.generator.to(memory_format=torch.channels_last)
        self._source_cache: tuple[str, torch.Tensor, torch.Tensor] | None = None

    def describe(self) -> dict:
        return {
            "engine": self.name,
            "model_dir": str(self.model_dir),
            "model_config": self.manifest["config"].get("name", "custom"),
            "model_weights_sha256": self.manifest.get("weights_sha256", ""),
            "model_sources": self.manifest.get("sources", []),
            "keymap_version": self.manifest.get("keymap_version", ""),
            "device": str(self.device),
            "precision": self.options.precision,
            "batch_size": self.batch_size,
            "smooth": self.options.smooth,
            "relative": self.options.relative,
        }

    def _autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def _numpy_kp(self, kp: KeypointTensors) -> Keypoints:
        return Keypoints(kp.value.float().cpu().numpy(), kp.jacobian.float().cpu().numpy())

    def _kp_tensors(self, kp: Keypoints) -> KeypointTensors:
        return KeypointTensors(torch.from_numpy(np.ascontiguousarray(kp.value, np.float32)).to(self.device),
                               torch.from_numpy(np.ascontiguousarray(kp.jacobian, np.float32)).to(self.device))

    def source_keypoints(self, crop: PortraitCrop) -> Keypoints:
        with torch.inference_mode(), self._autocast():
            kp = self.net.keypoint_detector(images_to_tensor(crop.image[None], self.device))
        return self._numpy_kp(kp)

    def audio_keypoints(self, crop: PortraitCrop, audio: AudioFeatures, pose: PoseTrack) -> Keypoints:
        t = audio.num_frames
        poses = np.asarray(pose.values, np.float32)
        if len(poses) == 0:
            raise EammError("the neural engine needs a head pose per frame (PoseTrack is empty)")
        if len(poses) < t:
            log.warning("pose has %d frames, audio %d: holding the last pose", len(poses), t)
            poses = np.concatenate([poses, np.repeat(poses[-1:], t - len(poses), axis=0)])
        a2fd = self.net.a2fd
        with torch.inference_mode():
            seq = a2fd.sequence(images_to_tensor(crop.image[None], self.device),
                                torch.from_numpy(np.asarray(audio.windows, np.float32)[None]).to(self.device),
                                torch.from_numpy(poses[None, :t]).to(self.device), chunk=self.batch_size * 8)
            values, jacs = [], []
            with self._autocast():
                for start in range(0, t, self.batch_size):
                    maps = a2fd.decode(seq.lstm_out[:, start:start + self.batch_size])[0]
                    kp = self.net.audio_heads(maps.float())
                    values.append(kp.value.float().cpu().numpy())
                    jacs.append(kp.jacobian.float().cpu().numpy())
        raw = Keypoints(np.concatenate(values), np.concatenate(jacs))
        return smoothing.smooth_keypoints(raw, smoothing.AUDIO_KP) if self.options.smooth else raw

    def emotion_result(
        self, emotion: EmotionClip | EmotionPreset, kp_audio: Keypoints, crop: PortraitCrop,
        neutral: EmotionClip | None = None,
    ) -> EmotionResult:
        """E_e + P_d on the clip's augmented frames; the network needs no neutral reference (``neutral``
        is not used, and none is reported)."""
        if isinstance(emotion, EmotionPreset) or not isinstance(emotion, EmotionClip):
            raise EammError("the neural engine needs an emotion clip (a video or a folder of frames), "
                            "not an emotion preset: pass --emotion CLIP.mp4 or use --engine landmark")
        kp = kp_audio
        t = len(kp)
        frames = emotion.augmented  # array-like: frames are made per batch, not all at once
        values, jacs = [], []
        with torch.inference_mode():  # E_e's precision is set on its weights; P_d stays float32
            for start in range(0, t, self.batch_size):
                idx = np.arange(start, min(t, start + self.batch_size))
                batch = images_to_tensor(frames[idx % len(frames)], self.device)
                part = self._kp_tensors(kp.frames(idx))
                out = self.net.emotion(batch, part.value, part.jacobian).displacements
                values.append(out.value.float().cpu().numpy())
                jacs.append(out.jacobian.float().cpu().numpy())
        disp = Keypoints(np.concatenate(values), np.concatenate(jacs))
        if self.options.smooth:
            disp = smoothing.smooth_keypoints(disp, smoothing.EMOTION)
        w = np.asarray(self.face_weights, np.float32)
        return EmotionResult(Keypoints(disp.value[:, :3] * w[None, :, None],
                                       disp.jacobian[:, :3] * w[None, :, None, None]))

    def source_tensors(self, crop: PortraitCrop) -> tuple[torch.Tensor, torch.Tensor]:
        """The portrait tensor and G's source-only features, computed once per portrait."""
        key = hashlib.sha1(np.ascontiguousarray(crop.image).tobytes()).hexdigest()
        if self._source_cache is None or self._source_cache[0] != key:
            src = images_to_tensor(crop.image[None], self.device).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                feats = self.net.generator.encode(src)
            self._source_cache = (key, src, feats)
        return self._source_cache[1], self._source_cache[2]

    def render(
        self, crop: PortraitCrop, kp_source: Keypoints, kp_driving: Keypoints, indices: Iterable[int]
    ) -> Iterator[tuple[int, np.ndarray]]:
        if self.options.relative:
            kp_driving = relative_keypoints(kp_source, kp_driving)
        src, feats = self.source_tensors(crop)
        kp_s = self._kp_tensors(kp_source)
        order = [int(i) for i in indices]
        size = resolve_size(self.options.size, crop.source_from_crop, self.native_size).size
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            frames = self.render_batch(src, feats, kp_s, kp_driving.frames(np.asarray(idx)))
            yield from zip(idx, (enlarge(f, size) for f in frames))

    def predict(self, src: torch.Tensor, feats: torch.Tensor, kp_s: KeypointTensors, kp_d: Keypoints) -> torch.Tensor:
        """G's prediction for one batch, float [B,3,256,256] in [0,1], reusing the source features."""
        b = len(kp_d)
        drv = self._kp_tensors(kp_d)
        kp_s = KeypointTensors(kp_s.value.expand(b, -1, -1), kp_s.jacobian.expand(b, -1, -1, -1))
        with torch.inference_mode():  # G's precision is set on its weights (optimize.lower_precision)
            feats = feats.expand(b, -1, -1, -1).contiguous(memory_format=torch.channels_last)
            out = self.net.generator(src.expand(b, -1, -1, -1), drv, kp_s, source_features=feats, with_deformed=False)
            return out.prediction.float()

    def render_batch(self, src: torch.Tensor, feats: torch.Tensor, kp_s: KeypointTensors,
                     kp_d: Keypoints) -> np.ndarray:
        """One batch of frames: uint8 [B,256,256,3] RGB."""
        with torch.inference_mode():
            pred = self.predict(src, feats, kp_s, kp_d).mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        return pred.permute(0, 2, 3, 1).cpu().numpy()
