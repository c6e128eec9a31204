"""The neural engine through the server: available only with an installed model, chosen by name
(never by path), and a real job on a tiny synthetic model (tests/neural_synthetic.py)."""

from __future__ import annotations

import httpx
import pytest
from conftest import SAMPLE_SPEECH
from server_harness import ServerProcess, cut_wav, upload, wait_for_state


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    from neural_synthetic import make_tiny_model

    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root)
    return root


def test_neural_engine_needs_a_model_and_runs_a_job(tmp_path, models_dir, sample_face_png):
    empty = tmp_path / "no-models"
    empty.mkdir()
    with ServerProcess(env={"EAMM_MODEL_DIR": str(empty)}) as srv, srv.client() as c:
        assert httpx.get(f"{srv.url}/health").json()["engines"]["neural"] is False
        assert c.get("/v1/models").json() == {"models": []}
    with ServerProcess(env={"EAMM_MODEL_DIR": str(models_dir)}) as srv, srv.client() as c:
        assert httpx.get(f"{srv.url}/health").json()["engines"] == {"landmark": True, "neural": True}
        assert c.get("/v1/models").json() == {"models": [{"name": "tiny"}]}
        audio = cut_wav(SAMPLE_SPEECH, tmp_path / "a.wav", 0.5, start=0.5)
        ids = {"portrait": upload(c, sample_face_png, "portrait")["id"],
               "audio": upload(c, audio, "audio")["id"]}
        for model, field in (("../tiny", "model"), ("eamm", "model")):
            r = c.post("/v1/jobs", json={**ids, "engine": "neural", "model": model})
            assert r.status_code == 422 and r.json()["field"] == field, r.text
        r = c.post("/v1/jobs", json={**ids, "engine": "landmark", "model": "tiny"})
        assert r.status_code == 422 and r.json()["field"] == "model"
        job = c.post("/v1/jobs", json={**ids, "engine": "neural", "model": "tiny", "outputs": ["frames"]}).json()
        status = wait_for_state(c, job["id"], timeout=600)
        assert status["state"] == "done" and status["frames_done"] == job["frames_total"] > 0, status
        manifest = c.get(f"/v1/jobs/{job['id']}/manifest").json()
        assert manifest["engine"]["engine"] == "neural"
