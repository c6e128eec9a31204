"""Explicit map from the authors' checkpoint keys to ours (the keys in their
released files → our modules).

Each rule is ``(entry, foreign template, our template, remap)``. Templates use placeholders: ``{i}``
and ``{j}`` match an integer, ``{p}`` one dotted component, ``{rest}`` the remainder of the key.
``remap`` translates a placeholder's value (e.g. ``audio_eocder.3`` is our ``convs.2``). An our
template of ``None`` marks keys of sub-modules the reference never runs at inference: they are
accepted, dropped and reported. A key no rule matches is an error. The map is a bijection between
the kept foreign keys and our state-dict keys (tests check it against the key list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

KEYMAP_VERSION = "eamm-keymap-1"
#: checkpoint entries the engine needs, in the order the reference's key list gives them
ENTRIES = ("kp_detector", "generator", "kp_detector_a", "audio_feature", "emo_detector")
#: top-level checkpoint entries that are not networks the engine runs (ignored, reported)
IGNORED_ENTRIES = re.compile(r"^(optimizer_.*|epoch|step|discriminator|iteration|it)$")

_LAYER = {"i": {1: 0, 2: 1, 3: 2, 4: 3}}  # ResNet layer1..4 -> our stages 0..3
_HG = (("predictor.encoder.down_blocks.{i}.{rest}", "hourglass.encoder.{i}.{rest}", None),
       ("predictor.decoder.up_blocks.{i}.{rest}", "hourglass.decoder.{i}.{rest}", None))


def _prefixed(entry: str, prefix: str, rules) -> list[tuple]:
    return [(entry, f, None if o is None else prefix + o, r) for f, o, r in rules]


_RULES: list[tuple] = (
    _prefixed("kp_detector", "keypoint_detector.", (
        ("down.weight", "downsample.kernel", None),
        *_HG,
        ("kp.{p}", "heads.value_conv.{p}", None),
        ("jacobian.{p}", "heads.jacobian_conv.{p}", None),
    ))
    + _prefixed("kp_detector_a", "audio_heads.", (
        ("kp.{p}", "value_conv.{p}", None),
        ("jacobian.{p}", "jacobian_conv.{p}", None),
        ("predictor.{rest}", None, None),  # KPDetector_a runs only its heads on A2FD's feature map
        ("down.weight", None, None),
    ))
    + _prefixed("generator", "generator.", (
        ("dense_motion_network.hourglass.encoder.down_blocks.{i}.{rest}",
         "dense_motion.hourglass.encoder.{i}.{rest}", None),
        ("dense_motion_network.hourglass.decoder.up_blocks.{i}.{rest}",
         "dense_motion.hourglass.decoder.{i}.{rest}", None),
        ("dense_motion_network.mask.{p}", "dense_motion.mask_conv.{p}", None),
        ("dense_motion_network.occlusion.{p}", "dense_motion.occlusion_conv.{p}", None),
        ("dense_motion_network.down.weight", "dense_motion.downsample.kernel", None),
        ("first.{rest}", "first.{rest}", None),
        ("down_blocks.{i}.{rest}", "encoder.{i}.{rest}", None),
        ("bottleneck.r{i}.{rest}", "bottleneck.{i}.{rest}", None),
        ("up_blocks.{i}.{rest}", "decoder.{i}.{rest}", None),
        ("final.{p}", "final.{p}", None),
    ))
    + _prefixed("audio_feature", "a2fd.", (
        ("down_blocks.{i}.{rest}", "image_encoder.blocks.{i}.{rest}", None),
        ("audio_eocder.{i}.0.weight", "audio_encoder.convs.{i}.conv.weight", {"i": {0: 0, 1: 1, 3: 2, 4: 3, 5: 4}}),
        ("audio_eocder.{i}.1.{p}", "audio_encoder.convs.{i}.norm.{p}", {"i": {0: 0, 1: 1, 3: 2, 4: 3, 5: 4}}),
        ("audio_eocder_fc.{i}.{p}", "audio_encoder.fc{i}.{p}", {"i": {0: 1, 2: 2}}),
        ("pose_encoder.{i}.{p}", "pose_encoder.fc{i}.{p}", {"i": {0: 1, 2: 2}}),
        ("lstm.{p}", "decoder.lstm.{p}", None),
        ("decon.{i}.{p}", "feature_decoder.deconvs.{i}.{p}", {"i": {0: 0, 3: 1, 6: 2, 9: 3, 12: 4}}),
        ("decon.{i}.{p}", "feature_decoder.norms.{i}.{p}", {"i": {1: 0, 4: 1, 7: 2, 10: 3}}),
        ("generator.{rest}", None, None),  # StyleGAN2 branch, only for jaco_net == 'gan'
    ))
    + _prefixed("emo_detector", "emotion.", (
        ("down.weight", "extractor.downsample.kernel", None),
        *((f, "extractor." + o, r) for f, o, r in _HG),
        ("conv1.weight", "extractor.conv1.weight", None),
        ("bn1.{p}", "extractor.bn1.{p}", None),
        ("layer{i}.{j}.downsample.0.weight", "extractor.stages.{i}.{j}.shortcut_conv.weight", _LAYER),
        ("layer{i}.{j}.downsample.1.{p}", "extractor.stages.{i}.{j}.shortcut_norm.{p}", _LAYER),
        ("layer{i}.{j}.{rest}", "extractor.stages.{i}.{j}.{rest}", _LAYER),
        ("classify.last_fc.{p}", "extractor.classifier.{p}", None),
        ("fc_p.{i}.{p}", "predictor.kp_fc{i}.{p}", {"i": {0: 1, 2: 2}}),
        ("fc_all.{i}.{p}", "predictor.fuse.{i}.{p}", {"i": {0: 0, 2: 1, 4: 2}}),
        ("final.{i}.{p}", "predictor.head{i}.{p}", {"i": {0: 1, 3: 2, 5: 3}}),
        ("fc.{p}", None, None),  # unused heads of Emotion_k
        ("fc_n.{rest}", None, None),
        ("final_4.{rest}", None, None),
        ("final_10.{rest}", None, None),
    ))
)

_PLACEHOLDER = re.compile(r"\{(i|j|p|rest)\}")
_PATTERNS = {"i": r"(\d+)", "j": r"(\d+)", "p": r"([^.]+)", "rest": r"(.+)"}


def _compile(template: str) -> tuple[re.Pattern, list[str]]:
    names = _PLACEHOLDER.findall(template)
    parts = _PLACEHOLDER.split(template)
    regex = "".join(re.escape(part) if k % 2 == 0 else _PATTERNS[part] for k, part in enumerate(parts))
    return re.compile("^" + regex + "$"), names


@dataclass(frozen=True)
class Rule:
    entry: str
    foreign: str
    ours: str | None
    remap: dict = field(default_factory=dict)

    def translate(self, key: str, *, reverse: bool = False) -> str | None | bool:
        """Translated key, None for a dropped key, False when the rule does not match."""
        src, dst = (self.ours, self.foreign) if reverse else (self.foreign, self.ours)
        if src is None:
            return False
        pattern, names = _compile(src)
        m = pattern.match(key)
        if not m:
            return False
        values = dict(zip(names, m.groups()))
        for name, table in self.remap.items():
            table = {v: k for k, v in table.items()} if reverse else table
            if int(values[name]) not in table:
                return False
            values[name] = str(table[int(values[name])])
        return None if dst is None else dst.format(**values)


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    return tuple(Rule(e, f, o, r or {}) for e, f, o, r in _RULES)


class UnknownKeyError(KeyError):
    """A foreign key that no rule of its entry accepts."""


def to_ours(entry: str, key: str) -> str | None:
    """Our key for ``entry/key``; None when the key belongs to a sub-module the engine drops."""
    for rule in rules():
        if rule.entry == entry:
            out = rule.translate(key)
            if out is not False:
                return out
    raise UnknownKeyError(f"{entry}/{key}")


def to_foreign(key: str) -> tuple[str, str]:
    """(entry, foreign key) for one of our keys (used to write checkpoints in the authors' layout)."""
    for rule in rules():
        out = rule.translate(key, reverse=True)
        if out is not False and out is not None:
            return rule.entry, out
    raise UnknownKeyError(key)
