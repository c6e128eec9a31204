"""Property-based run against the server's own OpenAPI schema (schemathesis + hypothesis): for
every operation, schema-conforming and schema-violating requests, with the token, never get a 5xx.
Bounded: a fixed number of examples per operation and mode, no example database."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from server_harness import ServerProcess

EXAMPLES = 12


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data", token_file=tmp_path_factory.mktemp("fz") / "t",
                           args=["--max-upload-mb", "1"])
    server.start()
    yield server
    server.cleanup()


def operations(srv):
    with srv.client() as c:
        raw = c.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_request_gets_a_server_error(srv):
    ops = operations(srv)
    assert len(ops) >= 14
    failures, ran = [], []
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def check(case):
                response = case.call(base_url=srv.url, headers=srv.headers, timeout=60)
                if response.status_code >= 500:
                    failures.append(f"{op.method.upper()} {op.path} [{mode}] -> {response.status_code}: "
                                    f"{response.text[:200]} for {case.path_parameters} {case.query} {str(case.body)[:200]}")

            try:
                check()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # an operation with nothing to get wrong
                continue
            ran.append((op.path, mode))
    assert failures == []
    assert len(ran) >= 20
    with srv.client() as c:
        assert c.get("/v1/jobs").status_code == 200
