"""One definition of a job (eamm_core.job.JobSpec and its field options) and what is built from it:
``eamm generate``'s options, the server's request schema, and ``spec.json`` read back."""

from __future__ import annotations

import argparse
from dataclasses import MISSING
from pathlib import Path

import numpy as np
import pytest

from eamm_core.chunks import spec_record
from eamm_core.cli import build_parser
from eamm_core.cli import job_options as cli_job_options
from eamm_core.job import JobField, JobSpec, Option, job_fields, spec_from_record
from server import schemas
from server.schemas import HAND_TYPED, REQUEST_ONLY, JobRequest

# eamm generate options that are not job fields (how to run, where to write)
CLI_ONLY = {"--strength-curve", "--cache-dir", "--no-cache", "--no-resume", "--quiet", "--stage", "--frames",
            "--wait", "--out", "--help"}


def generate_actions(command: str = "generate") -> list[argparse.Action]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]._actions


def test_eamm_prepares_options_are_the_same_fields():
    """``eamm prepare`` takes the job fields its stages read, with generate's flags, help and defaults."""
    from eamm_core.cli.prepare import PREPARE_FIELDS

    generate = {a.dest: a for a in generate_actions()}
    prepare = {a.dest: a for a in generate_actions("prepare")}
    assert set(prepare) - {"help", "out"} == set(PREPARE_FIELDS)
    for name in PREPARE_FIELDS:
        a, b = prepare[name], generate[name]
        assert (a.option_strings, a.help, a.default, a.required, a.choices) == \
            (b.option_strings, b.help, b.default, b.required, b.choices), name


def test_every_cli_job_option_is_its_fields_definition():
    actions = {a.dest: a for a in generate_actions()}
    for f in job_fields():
        if not f.option.cli:
            assert f.name not in actions, f"{f.name} has no flags in JobSpec but is an option"
            continue
        action = actions[f.name]
        assert tuple(action.option_strings) == f.option.cli, f.name
        assert action.help == f.option.help, f.name
        assert action.required == f.required, f.name
        if f.name == "strength":  # added by hand (a number or a curve file); None means "the field's default"
            assert action.default is None and f.default == 1.0
            continue
        assert action.default == (None if f.required else f.default), f.name
        assert tuple(action.choices or ()) == tuple(f.option.choices or ()), f.name
    job_flags = {flag for f in job_fields() for flag in f.option.cli}
    other = {flag for a in generate_actions() for flag in a.option_strings if flag not in job_flags} - {"-h"}
    assert other == CLI_ONLY, "a job option added by hand: give it a JobSpec field (eamm_core/job.py) instead"


def test_every_request_field_is_its_fields_definition():
    schema = JobRequest.model_json_schema()
    props, required = schema["properties"], set(schema.get("required", ()))
    wire = {f.option.wire: f for f in job_fields() if f.option.wire}
    assert set(props) == set(wire) | set(REQUEST_ONLY)
    assert set(HAND_TYPED) <= {f.name for f in wire.values()}
    for name, f in wire.items():
        prop = props[name]
        assert prop["description"] == f.option.help, name
        assert (name in required) == f.required, name
        if not f.required:
            assert prop["default"] == f.default, name
        if f.name in HAND_TYPED:
            continue
        variants = prop.get("anyOf", [prop])
        typed = next(v for v in variants if v.get("type") != "null")
        assert any(v.get("type") == "null" for v in variants) == f.optional, name
        if f.option.choices:
            assert tuple(typed["enum"]) == f.option.choices, name
        if f.option.ge is not None:
            assert typed["minimum"] == f.option.ge, name
        if f.option.le is not None:
            assert typed["maximum"] == f.option.le, name
        if f.option.max_length is not None:
            assert typed["maxLength"] == f.option.max_length, name


def test_defaults_are_the_same_on_the_command_line_and_in_a_request(tmp_path):
    args = build_parser().parse_args(["generate", "--portrait", "p.png", "--audio", "a.wav", "--out", "o"])
    from eamm_core.cli.generate import spec_from_args

    cli = spec_from_args(args)
    request = JobRequest.model_validate({"portrait": "a" * 64, "audio": "b" * 64})
    for f in job_fields():
        if f.option.wire and not f.required and f.option.cli:
            assert getattr(cli, f.name) == getattr(request, f.option.wire), f.name


@pytest.mark.parametrize(("argv", "message"), [
    (["--seed", "-1"], "--seed: -1 is out of range"),
    (["--face-index", "100"], "--face-index: 100 is out of range: give a value between 0 and 99"),
    (["--frame-end", "0"], "--frame-end: 0 is out of range: give a value at least 1"),
    (["--engine", "magic"], "--engine: invalid choice"),
    (["--seed", "x"], "--seed: invalid int value"),
])
def test_the_cli_applies_the_fields_range(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["generate", "--portrait", "p", "--audio", "a", "--out", "o", *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_spec_json_reads_back_every_field(tmp_path):
    spec = JobSpec(portrait=tmp_path / "p.png", audio=tmp_path / "a.wav", emotion=tmp_path / "e.npz",
                   emotion_neutral=tmp_path / "n.mp4", pose=np.arange(12, dtype=np.float32).reshape(2, 6),
                   strength=np.array([0.5, 1.5], np.float32), engine="neural", model_dir=tmp_path / "m", seed=7,
                   paste_back=True, blink=False, idle_motion=True, transcript="hi", face_index=2, frame_start=3,
                   frame_end=9, write_mp4=False, device="cpu", precision="bf16", smooth_pose=True,
                   pose_absolute=True, size="512", landmarks="mediapipe478")
    for f in job_fields():  # the record below covers every field with a value other than its default
        assert not np.array_equal(getattr(spec, f.name), f.default), f.name
    back = spec_from_record(spec_record(spec))
    for f in job_fields():
        np.testing.assert_array_equal(getattr(back, f.name), getattr(spec, f.name), err_msg=f.name)
        assert type(getattr(back, f.name)) is type(getattr(spec, f.name)), f.name
    assert spec_from_record({"portrait": "p", "audio": "a", "pose": "pose.csv", "stage": "all"}) == JobSpec(
        portrait=Path("p"), audio=Path("a"), pose=Path("pose.csv"))


def test_a_new_field_is_one_entry(monkeypatch):
    """What adding a plain field takes: its JobSpec entry (here a stand-in added to job_fields())."""
    detail = JobField("detail", int, 256, Option(help="detail level", cli=("--detail",), wire="detail", ge=64, le=1024))
    flavour = JobField("flavour", str, "fan", Option(help="a flavour", cli=("--flavour",),
                                                     wire="flavour", choices=("fan", "mediapipe")))
    more = (*job_fields(), detail, flavour)
    monkeypatch.setattr(cli_job_options, "job_fields", lambda: more)
    monkeypatch.setattr(schemas, "job_fields", lambda: more)
    parser = argparse.ArgumentParser()
    cli_job_options.add_job_arguments(parser, skip=("strength",))
    args = parser.parse_args(["--portrait", "p", "--audio", "a", "--detail", "512", "--flavour", "mediapipe"])
    kwargs = cli_job_options.job_arguments(args)
    assert (kwargs["detail"], kwargs["flavour"]) == (512, "mediapipe")
    fields = schemas._request_fields()
    assert fields["detail"][1].default == 256 and fields["flavour"][1].description == "a flavour"
    from pydantic import ValidationError, create_model

    model = create_model("R", **fields)
    assert model.model_validate({"portrait": "x", "audio": "y", "detail": 128}).detail == 128
    with pytest.raises(ValidationError):
        model.model_validate({"portrait": "x", "audio": "y", "detail": 2048})
    with pytest.raises(ValidationError):
        model.model_validate({"portrait": "x", "audio": "y", "flavour": "dlib"})


def test_a_field_the_builders_cannot_type_is_refused():
    odd = JobField("curve", float | np.ndarray, MISSING, Option(help="?", cli=("--curve",), wire="curve"))
    with pytest.raises(TypeError, match="add its option by hand"):
        cli_job_options.argument_options(odd)
    with pytest.raises(TypeError, match="HAND_TYPED"):
        schemas._wire_type(odd)


REPO = Path(__file__).resolve().parents[1]


def _addon_properties() -> dict[str, dict]:
    """The add-on's scene settings (blender_addon/properties.py) as name -> keyword arguments, read
    from the source (the add-on needs bpy to import)."""
    import ast

    tree = ast.parse((REPO / "blender_addon" / "properties.py").read_text(encoding="utf-8"))
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.annotation, ast.Call):
            out[node.target.id] = {k.arg: ast.literal_eval(k.value) for k in node.annotation.keywords
                                   if k.arg in ("default", "min", "max", "items")}
    return out


def test_the_addons_job_settings_match_the_definition():
    props = _addon_properties()
    fields = {f.name: f for f in job_fields()}
    for name in ("seed", "blink", "idle_motion", "paste_back"):  # sent as they are (blender_addon/jobs.py)
        f = fields[name]
        assert props[name].get("default", False) == f.default, name
        if f.option.ge is not None:
            assert props[name].get("min") == f.option.ge, name
        assert props[name].get("max", 2**31 - 1) <= (f.option.le if f.option.le is not None else 2**31 - 1), name
    assert tuple(item[0] for item in props["engine"]["items"]) == fields["engine"].option.choices


def test_the_apps_job_settings_match_the_definition():
    from eamm_app import main_window

    fields = {f.name: f for f in job_fields()}
    assert main_window.ENGINES == fields["engine"].option.choices
    source = (REPO / "eamm_app" / "main_window.py").read_text(encoding="utf-8")
    assert f"self.seed_box.setRange({fields['seed'].option.ge:g}, 2**31 - 1)" in source
    assert fields["seed"].option.le == 2**31 - 1
