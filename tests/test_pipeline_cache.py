"""The stage cache: content keys, atomic entries, corrupt entries, code fingerprints."""

from __future__ import annotations

import numpy as np

from eamm_core.cache import (
    Cache,
    array_sha256,
    canonical_key,
    code_fingerprint,
    file_sha256,
    pack_keypoints,
    unpack_keypoints,
)
from eamm_core.types import Keypoints


def test_keys_are_canonical_and_sensitive_to_every_part():
    a = canonical_key({"stage": "motion", "seed": 1, "opts": {"x": 1, "y": [1, 2]}})
    b = canonical_key({"opts": {"y": [1, 2], "x": 1}, "seed": 1, "stage": "motion"})
    assert a == b and len(a) == 64
    assert canonical_key({"stage": "motion", "seed": 2, "opts": {"x": 1, "y": [1, 2]}}) != a
    assert array_sha256(np.zeros(3, np.float32)) != array_sha256(np.zeros(3, np.float64))
    assert array_sha256(np.zeros((2, 3))) != array_sha256(np.zeros((3, 2)))


def test_entries_round_trip_without_pickles_and_corrupt_ones_are_misses(tmp_path):
    cache = Cache(tmp_path)
    value = np.random.default_rng(0).normal(size=(4, 10, 2)).astype(np.float32)
    kp = Keypoints(value, np.zeros((4, 10, 2, 2), np.float32))
    assert cache.get("motion", "k") is None
    cache.put("motion", "k", {**pack_keypoints(kp, "audio"), "name": np.array("x")})
    got = cache.get("motion", "k")
    np.testing.assert_array_equal(unpack_keypoints(got, "audio").value, kp.value)
    assert str(got["name"]) == "x" and not list((tmp_path / "motion").glob(".tmp-*"))
    cache.path("motion", "k").write_bytes(b"PK\x03\x04 broken")
    assert cache.get("motion", "k") is None and not cache.path("motion", "k").exists()
    assert Cache(None).get("motion", "k") is None  # a disabled cache never hits


def test_code_fingerprint_follows_the_source(tmp_path, monkeypatch):
    pkg = tmp_path / "fp_pkg_for_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = code_fingerprint("fp_pkg_for_test")
    from eamm_core import cache as cache_mod

    cache_mod._FINGERPRINTS.clear()
    (pkg / "__init__.py").write_text("X = 2\n")
    assert code_fingerprint("fp_pkg_for_test") != first


def test_code_fingerprint_ignores_line_endings(tmp_path, monkeypatch):
    """A Windows (CRLF) and a Linux (LF) checkout of the same code give the same cache keys, so
    farm workers of both kinds share one stage cache; a real change still changes the key."""
    from eamm_core import cache as cache_mod

    pkg = tmp_path / "fp_eol_pkg_for_test"
    pkg.mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    source = "X = 1\n\ndef f():\n    return X\n"
    prints = []
    for text in (source, source.replace("\n", "\r\n"), source.replace("X = 1", "X = 2")):
        (pkg / "__init__.py").write_bytes(text.encode())
        cache_mod._FINGERPRINTS.clear()
        prints.append(code_fingerprint("fp_eol_pkg_for_test"))
    assert prints[0] == prints[1] != prints[2]


def test_file_hash_is_the_sha256_of_the_bytes(tmp_path):
    import hashlib

    path = tmp_path / "a.bin"
    path.write_bytes(b"abc" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"abc" * 1000).hexdigest()
