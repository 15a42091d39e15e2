"""The examples run as their docstrings say, on the CPU backend with small sizes (skipped
without torch): examples/train_mlp.py trains both models on either task, writes its JSON, and
its FP8 loss curve follows bf16's; examples/moe.py runs its grouped GEMMs to an FP8-sized error."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("torch")

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


# The lm task draws fresh labels every step, so one step's loss is a sample: with 1024 classes
# and 64 tokens 12 steps moved it by less than its noise (7.06 -> 7.16 with torch 2.15). 16
# classes, 256 tokens and a higher rate learn in 16 steps by ~0.4 nats against ~0.05 of noise
# (torch 2.5.1 and 2.15, seeds 0 and 1); the means of the first and last four steps are compared.
TASK_ARGS = {"lm": ["--steps", "16", "--tokens", "256", "--vocab", "16", "--lr", "3e-3"],
             "regression": ["--steps", "16", "--tokens", "64"]}


def example_env():
    """The environment an example runs in: the repository's python/ package first."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(EXAMPLES.parent / "python"),
                                                                    os.environ.get("PYTHONPATH")])))


@pytest.mark.parametrize("task", ["lm", "regression"])
def test_train_mlp_learns_beside_bf16(tmp_path, task):
    out = tmp_path / "train.json"
    env = example_env()
    run = subprocess.run([sys.executable, str(EXAMPLES / "train_mlp.py"), "--device", "cpu", "--d-model", "130",
                          "--hidden", "260", "--depth", "1", "--task", task, *TASK_ARGS[task],
                          "--json", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "final loss" in run.stdout and "training step" in run.stdout
    result = json.loads(out.read_text())
    for name in ("bf16", "fp8"):
        losses = result["runs"][name]["losses"]
        assert len(losses) == 16 and sum(losses[-4:]) < sum(losses[:4]), (name, losses)
    assert abs(result["excess"]) <= 0.02, result["final"]


def test_moe_runs_and_its_fp8_error_is_of_fp8_size():
    """examples/moe.py on the CPU with a hidden width not a multiple of 128: both grouped GEMMs
    run, and the FP8 layer's error against fp32 is that of two FP8 GEMMs (~4-6% relative on
    Gaussian data), not of a wrong group."""
    env = example_env()
    run = subprocess.run([sys.executable, str(EXAMPLES / "moe.py"), "--device", "cpu", "--tokens", "64",
                          "--d-model", "256", "--hidden", "130", "--experts", "4", "--reps", "1"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    errors = {line.split()[0]: float(line.split()[-1]) for line in run.stdout.splitlines() if "rel error" in line}
    assert errors["fp8block"] < 0.08 and errors["bf16"] < 0.01, run.stdout
    assert "layer time" in run.stdout
