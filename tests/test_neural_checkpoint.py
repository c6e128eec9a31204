"""Loading the authors' checkpoints: key map, count/shape checks, dropped keys, our format, CLI errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import REPO, shared_path
from neural_synthetic import parse_key_file, write_tiny_author_checkpoints

from eamm_core.cli import main as cli_main
from eamm_core.engines.neural import checkpoint, keymap
from eamm_core.engines.neural.config import config_from_dict, released, tiny
from eamm_core.engines.neural.models.eamm_networks import EammNetworks
from eamm_core.errors import EammError, InputError, ModelNotFoundError


@pytest.fixture(scope="module")
def authors(tmp_path_factory):
    return write_tiny_author_checkpoints(tmp_path_factory.mktemp("tiny_authors"))


def test_key_map_is_a_bijection_onto_our_released_networks():
    keys = parse_key_file(shared_path("docs", "eamm_checkpoint_keys.txt"))
    ours = EammNetworks(released()).state_dict()
    mapped, dropped = {}, {}
    for entry, items in keys.items():
        for key, shape in items:
            target = keymap.to_ours(entry, key)
            if target is None:
                dropped[entry] = dropped.get(entry, 0) + 1
                continue
            assert target not in mapped, f"{entry}/{key} and {mapped.get(target)} both map to {target}"
            assert tuple(ours[target].shape) == shape, f"{entry}/{key}"
            mapped[target] = (entry, key)
            assert keymap.to_foreign(target) == (entry, key)
    assert set(mapped) == set(ours)
    assert dropped == {"kp_detector_a": 71, "audio_feature": 99, "emo_detector": 14}


def test_unknown_key_is_rejected_by_the_map():
    with pytest.raises(keymap.UnknownKeyError):
        keymap.to_ours("generator", "dense_motion_network.extra.weight")
    assert keymap.to_ours("audio_feature", "generator.to_rgbs.0.conv.weight") is None


def test_convert_then_load_strict_round_trips_every_tensor(authors, tmp_path):
    report = checkpoint.convert(authors, tmp_path / "m", tiny())
    net, manifest = checkpoint.load_model(tmp_path / "m")
    assert config_from_dict(manifest["config"]) == tiny()
    assert [s["file"] for s in manifest["sources"]] == [p.name for p in authors]
    assert all(len(s["sha256"]) == 64 for s in manifest["sources"])
    src = torch.load(authors[1], weights_only=True)["audio_feature"]
    assert torch.equal(net.a2fd.audio_encoder.convs[2].conv.weight, src["audio_eocder.3.0.weight"])
    assert torch.equal(net.a2fd.feature_decoder.norms[3].running_var, src["decon.10.running_var"])
    assert report.dropped["audio_feature"] == 1 and report.dropped["kp_detector_a"] == 2
    assert any("epoch" in line for line in report.ignored)


def _rewrite(path, dest, edit):
    data = torch.load(path, weights_only=True)
    edit(data)
    torch.save(data, dest)
    return dest


def test_wrong_shape_names_key_and_file(authors, tmp_path):
    bad = _rewrite(authors[2], tmp_path / "5-3000.pth.tar",
                   lambda d: d["emo_detector"].__setitem__("fc_p.0.weight", torch.zeros(3, 3)))
    with pytest.raises(InputError) as err:
        checkpoint.convert([authors[0], authors[1], bad], tmp_path / "m", tiny())
    assert "emo_detector/fc_p.0.weight" in str(err.value) and "5-3000.pth.tar" in str(err.value)
    assert "(3, 3)" in str(err.value)


def test_missing_key_names_first_missing_key_and_file(authors, tmp_path):
    bad = _rewrite(authors[0], tmp_path / "124_52000.pth.tar", lambda d: d["generator"].pop("final.bias"))
    with pytest.raises(InputError) as err:
        checkpoint.convert([bad, authors[1], authors[2]], tmp_path / "m", tiny())
    assert "generator/final.bias" in str(err.value) and "124_52000.pth.tar" in str(err.value)


def test_unexpected_key_and_unexpected_entry_are_errors(authors, tmp_path):
    bad = _rewrite(authors[1], tmp_path / "1-6000.pth.tar",
                   lambda d: d["audio_feature"].__setitem__("lstm2.weight", torch.zeros(1)))
    with pytest.raises(InputError, match=r"unexpected key audio_feature/lstm2.weight in 1-6000.pth.tar"):
        checkpoint.convert([authors[0], bad, authors[2]], tmp_path / "m", tiny())
    odd = _rewrite(authors[2], tmp_path / "odd.pth.tar", lambda d: d.__setitem__("mystery", {"a": torch.zeros(1)}))
    with pytest.raises(InputError, match="unexpected entry 'mystery' in odd.pth.tar"):
        checkpoint.convert([authors[0], authors[1], odd], tmp_path / "m", tiny())


def test_missing_entry_says_which_file_holds_it(authors, tmp_path):
    with pytest.raises(EammError, match=r"'emo_detector' is missing .* 5-3000.pth.tar"):
        checkpoint.convert(authors[:2], tmp_path / "m", tiny())


def test_fomm_checkpoint_provides_generator_and_keypoint_detector(authors, tmp_path):
    data = torch.load(authors[0], weights_only=True)
    fomm = {"generator": data["generator"], "kp_detector": data["kp_detector"], "epoch": 99,
            "discriminator": {"x": torch.zeros(1)}, "optimizer_generator": {"state": {}, "param_groups": []}}
    torch.save(fomm, tmp_path / "vox-cpk.pth.tar")
    report = checkpoint.convert([authors[1], authors[2], tmp_path / "vox-cpk.pth.tar"], tmp_path / "m", tiny())
    assert report.taken["generator"] == "vox-cpk.pth.tar"
    assert any("discriminator" in line for line in report.ignored)


def test_truncated_file_is_a_clear_one_line_error(authors, tmp_path):
    cut = tmp_path / "1-6000.pth.tar"
    cut.write_bytes(authors[1].read_bytes()[:5000])
    with pytest.raises(InputError) as err:
        checkpoint.read_foreign(cut)
    assert "1-6000.pth.tar" in str(err.value) and "truncated" in str(err.value) and "\n" not in str(err.value)


def test_our_format_is_loaded_strictly(authors, tmp_path):
    checkpoint.convert(authors, tmp_path / "m", tiny())
    from safetensors.torch import load_file, save_file

    state = load_file(str(tmp_path / "m" / "model.safetensors"))
    state["generator.extra"] = torch.zeros(1)
    save_file(state, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(InputError, match="do not fit"):
        checkpoint.load_model(tmp_path / "m")
    with pytest.raises(ModelNotFoundError, match="convert-checkpoint"):
        checkpoint.load_model(tmp_path / "nothing")


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "eamm_core", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


def test_cli_convert_and_models(authors, tmp_path, monkeypatch, capsys):
    out = tmp_path / "models" / "synthetic"
    assert cli_main(["convert-checkpoint", *map(str, authors), "--out", str(out), "--config", "tiny"]) == 0
    (tmp_path / "models" / "broken").mkdir()
    (tmp_path / "models" / "broken" / "manifest.json").write_text("{")
    monkeypatch.setenv("EAMM_MODEL_DIR", str(tmp_path / "models"))
    capsys.readouterr()
    assert cli_main(["models", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["synthetic"]["config"] == "tiny" and "error" in listed["broken"]
    assert cli_main(["models", "--models-dir", str(tmp_path / "empty")]) == 0
    assert "no models installed" in capsys.readouterr().out


def test_cli_errors_are_one_line_without_traceback(authors, tmp_path):
    cut = tmp_path / "124_52000.pth.tar"
    cut.write_bytes(authors[0].read_bytes()[:3000])
    res = _cli("convert-checkpoint", str(cut), str(authors[1]), str(authors[2]), "--out", str(tmp_path / "m"))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1
    assert "124_52000.pth.tar" in res.stderr


def test_extra_generator_key_of_a_known_pattern_is_named_on_one_line(authors, tmp_path):
    """A key that fits a rule but not our networks (an extra bottleneck block) is an unexpected key,
    reported with every such key on one line, exit 2, not an internal KeyError."""
    def add(d):
        d["generator"]["bottleneck.r9.conv1.weight"] = torch.zeros(1)
        d["generator"]["bottleneck.r9.conv1.bias"] = torch.zeros(1)
    bad = _rewrite(authors[0], tmp_path / "124_52000.pth.tar", add)
    with pytest.raises(InputError) as err:
        checkpoint.convert([bad, authors[1], authors[2]], tmp_path / "m", tiny())
    msg = str(err.value)
    assert "unexpected key" in msg and "124_52000.pth.tar" in msg
    assert "generator/bottleneck.r9.conv1.weight" in msg and "generator/bottleneck.r9.conv1.bias" in msg
    res = _cli("convert-checkpoint", str(bad), str(authors[1]), str(authors[2]), "--config", "tiny",
               "--out", str(tmp_path / "m2"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "internal error" not in res.stderr
    assert "bottleneck.r9.conv1.weight" in res.stderr
