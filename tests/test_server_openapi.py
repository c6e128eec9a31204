"""``/openapi.json`` documents every response, and the add-on's and the app's clients read only
what it documents.

Which response fields each client reads is a table below; a scan of the clients' source
(string keys in ``x["key"]``, ``x.get("key")`` and ``"key" in x``) keeps the table honest: every key
the code reads is either in the table (then the OpenAPI schema must have it) or named as a key of
the client's own data (job files, messages between its threads, environment variables).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import server_harness

from blender_addon import state as addon_state
from eamm_app import api as app_api
from server import jobs as server_jobs
from server.app import create_app
from server.config import ServerConfig

REPO = Path(__file__).resolve().parents[1]

ADDON_MODULES = ("client", "farm", "jobs", "operators", "state", "worker")
APP_MODULES = ("api", "generation", "inputs", "main_window", "queue_view")

# response schema -> the fields the client reads from it
ADDON_READS = {
    "Health": {"api_version", "engines", "device"},
    "PresetList": {"presets"},
    "Named": {"name"},
    "UploadAnswer": {"id", "info"},
    "UploadFacts": {"frames"},
    "JobStatus": {"id", "state", "stage", "frames_done", "frames_total", "eta_s", "cached", "error"},
    "ErrorBody": {"detail"},
}
APP_READS = {
    "Health": {"server_version", "api_version", "engines", "device"},
    "PresetList": {"presets"},
    "Named": {"name"},
    "JobList": {"jobs"},
    "UploadAnswer": {"id", "info", "kind", "warnings"},
    "UploadFacts": {"width", "height", "duration_s", "frames", "preset"},
    "JobStatus": {"id", "state", "stage", "frames_done", "frames_total", "frame_start", "eta_s", "error",
                  "warnings", "created", "engine", "outputs", "resumable"},
    "JobOutputs": {"mp4"},
    "ErrorBody": {"detail", "field"},
}
# keys of the client's own data, not of server responses
ADDON_OWN = {
    "Content-Length", "Content-Type", "EAMM_TOKEN_FILE",  # HTTP headers, environment
    "audio_strip", "key", "model_start", "model_end", "server_url",  # farm job and chunk files
    "job_id", "line", "progress", "status", "mapped", "result",  # messages from the worker thread
    "portrait", "audio", "emotion", "strength", "server",  # uploads by role, curves, the server process
    "refused", "upload", "--port",  # words looked for in error messages and argument lists
    "url",  # the server address the worker adds to the health answer
}
APP_OWN = {"EAMM_TOKEN_FILE"}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    app = create_app(ServerConfig(data_dir=folder, token_file=folder / "token", port=8765), "tok").fastapi
    return app.openapi()


def read_keys(paths) -> set[str]:
    """String keys the code reads: ``x["k"]``, ``x.get("k")``, ``"k" in x``."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                    and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                found.add(node.slice.value)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                  and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.add(node.args[0].value)
            elif (isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant)
                  and isinstance(node.left.value, str) and isinstance(node.ops[0], ast.In | ast.NotIn)):
                found.add(node.left.value)
    return found


CLIENTS = {
    "addon": ([REPO / "blender_addon" / f"{m}.py" for m in ADDON_MODULES], ADDON_READS, ADDON_OWN),
    "app": ([REPO / "eamm_app" / f"{m}.py" for m in APP_MODULES], APP_READS, APP_OWN),
}


def test_every_route_documents_its_answers(openapi):
    for path, operations in openapi["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert len(ok) == 1, where
            answer = op["responses"][ok[0]]
            if ok[0] == "204":
                assert not answer.get("content"), where
                continue
            schemas = [c.get("schema") for c in answer["content"].values()]
            assert schemas and all(schemas), f"{where}: a success answer without a schema"
            if path != "/health":
                assert "401" in op["responses"], where
            for code, error in op["responses"].items():
                if not code.startswith("2"):
                    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    status = openapi["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert status["schema"] == {"$ref": "#/components/schemas/JobStatus"}
    assert openapi["paths"]["/v1/jobs"]["post"]["responses"]["201"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/JobStatus"}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_clients_read_only_documented_fields(client, openapi):
    _, reads, _ = CLIENTS[client]
    schemas = openapi["components"]["schemas"]
    for name, keys in reads.items():
        documented = set(schemas[name]["properties"])
        assert keys <= documented, f"{client} reads {sorted(keys - documented)} of {name}, not in /openapi.json"


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_the_table_matches_the_clients_code(client):
    paths, reads, own = CLIENTS[client]
    in_code = read_keys(paths)
    in_table = set().union(*reads.values())
    unknown = in_code - in_table - own
    assert not unknown, (f"{client} reads {sorted(unknown)}: add them to the table of response fields it reads "
                         "(and document them in server/responses.py) or to its own keys")
    assert not (in_table | own) - in_code, f"stale entries in the {client} table: {sorted((in_table | own) - in_code)}"


def test_final_states_agree_everywhere(openapi):
    documented = openapi["components"]["schemas"]["JobStatus"]["properties"]["state"]["enum"]
    assert server_jobs.FINAL_STATES == app_api.FINAL_STATES == addon_state.FINAL_STATES == server_harness.FINAL_STATES
    assert set(server_jobs.FINAL_STATES) < set(documented) == set(server_jobs.JOB_STATES)
