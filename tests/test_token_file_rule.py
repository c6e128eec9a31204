"""Where the token file is: one table of cases drives the server's, the app's and the add-on's rule.

Each package keeps its own small function (the add-on may import only bpy and the standard
library), so this table is what keeps the three identical. An empty or relative XDG_CONFIG_HOME
(or APPDATA) is ignored, as the XDG Base Directory spec says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from blender_addon import client as addon_client
from eamm_app import api as app_api
from server import config as server_config

IMPLEMENTATIONS = {
    "server": server_config.default_token_file,
    "app": app_api.default_token_file,
    "addon": addon_client.token_file,
}

# (case, platform, environment besides HOME (None = unset), expected path relative to HOME or absolute)
# "<tmp>" in a value or an expectation stands for a temporary absolute folder.
CASES = [
    ("xdg unset", "linux", {"XDG_CONFIG_HOME": None}, "~/.config/eamm/token"),
    ("xdg empty", "linux", {"XDG_CONFIG_HOME": ""}, "~/.config/eamm/token"),
    ("xdg relative", "linux", {"XDG_CONFIG_HOME": "cfg"}, "~/.config/eamm/token"),
    ("xdg absolute", "linux", {"XDG_CONFIG_HOME": "<tmp>/cfg"}, "<tmp>/cfg/eamm/token"),
    ("override", "linux", {"EAMM_TOKEN_FILE": "<tmp>/t.txt", "XDG_CONFIG_HOME": "<tmp>/cfg"}, "<tmp>/t.txt"),
    ("override with ~", "linux", {"EAMM_TOKEN_FILE": "~/tok"}, "~/tok"),
    ("override empty", "linux", {"EAMM_TOKEN_FILE": ""}, "~/.config/eamm/token"),
    ("macOS", "darwin", {"XDG_CONFIG_HOME": "<tmp>/cfg"}, "~/Library/Application Support/eamm/token"),
    ("windows appdata", "win32", {"APPDATA": "<tmp>/roaming"}, "<tmp>/roaming/eamm/token"),
    ("windows appdata unset", "win32", {"APPDATA": None}, "~/AppData/Roaming/eamm/token"),
    ("windows appdata empty", "win32", {"APPDATA": ""}, "~/AppData/Roaming/eamm/token"),
    ("windows ignores xdg", "win32", {"APPDATA": None, "XDG_CONFIG_HOME": "<tmp>/cfg"},
     "~/AppData/Roaming/eamm/token"),
]


def _expand(text: str, home: Path, tmp: Path) -> Path:
    return Path(text.replace("<tmp>", str(tmp)).replace("~", str(home), 1) if text.startswith("~")
                else text.replace("<tmp>", str(tmp)))


@pytest.mark.parametrize("who", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize(("case", "platform", "env", "expected"), CASES, ids=[c[0] for c in CASES])
def test_token_file_rule(who, case, platform, env, expected, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for name in ("EAMM_TOKEN_FILE", "XDG_CONFIG_HOME", "APPDATA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if value is not None:
            monkeypatch.setenv(name, value.replace("<tmp>", str(tmp_path)))
    got = IMPLEMENTATIONS[who](platform)
    assert got == _expand(expected, home, tmp_path), f"{who}: {case}"
    assert got.is_absolute(), f"{who}: {case} gave a relative path"
