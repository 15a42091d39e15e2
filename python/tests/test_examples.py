"""The examples run as their docstrings say, on the CPU backend with small sizes (skipped
without torch): examples/train_mlp.py trains both models on either task, writes its JSON, and
its FP8 loss curve follows bf16's."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("torch")

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("task", ["lm", "regression"])
def test_train_mlp_learns_beside_bf16(tmp_path, task):
    out = tmp_path / "train.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(EXAMPLES.parent / "python"),
                                                                   os.environ.get("PYTHONPATH")])))
    run = subprocess.run([sys.executable, str(EXAMPLES / "train_mlp.py"), "--device", "cpu", "--steps", "12",
                          "--d-model", "130", "--hidden", "260", "--tokens", "64", "--depth", "1", "--task", task,
                          "--json", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "final loss" in run.stdout and "training step" in run.stdout
    result = json.loads(out.read_text())
    for name in ("bf16", "fp8"):
        losses = result["runs"][name]["losses"]
        assert len(losses) == 12 and losses[-1] < losses[0], (name, losses)
    assert abs(result["excess"]) <= 0.02, result["final"]
