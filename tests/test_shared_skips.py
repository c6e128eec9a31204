"""Tests that need ``../shared`` skip through ``conftest.shared_path``, with one reason format saying
what is missing and why; nothing else in tests/ reaches into ../shared on its own."""

from __future__ import annotations

import ast

import pytest
from conftest import REPO, SKIP_PREFIX, shared_path

TESTS = REPO / "tests"
SKIP_CALLS = {"skip", "skipif", "xfail", "importorskip"}


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def test_a_missing_shared_file_skips_saying_what_and_why():
    with pytest.raises(pytest.skip.Exception) as info:
        shared_path("fixtures", "no_such_clip.mp4", why="a real recording of something")
    reason = str(info.value)
    assert reason.startswith(SKIP_PREFIX + "fixtures/no_such_clip.mp4 (a real recording of something)"), reason
    assert "absent in this checkout" in reason
    with pytest.raises(pytest.skip.Exception) as info:
        shared_path("golden", "nothing.npz")
    assert "the authors' network outputs" in str(info.value)  # a default reason per part of ../shared


def test_no_test_skips_on_shared_data_by_itself():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.parent == TESTS and path.name in ("conftest.py", "test_shared_skips.py"):
            continue  # the helper, and this check's own patterns
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) in SKIP_CALLS:
                if any("shared" in s for s in _strings(node)):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} skips with its own reason")
            elif isinstance(node, ast.Name) and node.id in {"SHARED", "FIXTURES", "GOLDEN"}:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} reads {node.id} directly")
            elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
                  and isinstance(node.right, ast.Constant) and node.right.value == "shared"):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} builds a ../shared path itself")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "/work/shared" in node.value:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} names an absolute ../shared")
    assert offenders == [], "use conftest.shared_path(...) so the skip says what is missing and why:\n" + \
        "\n".join(offenders)
