"""Shared fixtures: where the built programs are, and a reader bridge for checking
our tensor readers against numpy/torch."""
import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("AIT_BUILD_DIR", REPO / "build"))


def build_program(name, folder="bin"):
    path = BUILD / folder / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run 'make build' first (or set AIT_BUILD_DIR)")
    return str(path)


def run_checked(program, *args, rc=0, timeout=120, env=None):
    """Runs `program args...` (with `env` added to the environment) and asserts its exit
    status, showing its output if it differs."""
    r = subprocess.run([program, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       env=None if env is None else {**os.environ, **{k: str(v) for k, v in env.items()}})
    assert r.returncode == rc, f"rc={r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


@pytest.fixture(scope="session")
def ait():
    """Path of the `ait` program."""
    return build_program("ait")


@pytest.fixture(scope="session")
def tensor_json():
    """tensor_json(path) -> {name: {"dtype", "shape", "has_data", "values"}} read by our
    C++ readers; raises AssertionError with the reader's message on failure."""
    tool = build_program("ait_tensor_json")

    def read(path):
        r = subprocess.run([tool, str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(r.stderr.strip())
        return json.loads(r.stdout)

    return read


@pytest.fixture(scope="session")
def tensor_json_error():
    """tensor_json_error(path) -> the reader's error message (asserts that it fails)."""
    tool = build_program("ait_tensor_json")

    def read(path):
        r = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, f"expected a read error, got rc={r.returncode}: {r.stdout[:200]}"
        return r.stderr.strip()

    return read


@pytest.fixture(scope="session")
def ait_engine():
    """Path of the `ait-engine` runner (the reference engine's CLI)."""
    return build_program("ait-engine")


@pytest.fixture(scope="session")
def tiny(ait_engine, tmp_path_factory):
    """A tiny-preset checkpoint (seed 0), shared by the engine, probe and dump tests."""
    out = tmp_path_factory.mktemp("tiny")
    run_checked(ait_engine, "init", "--preset", "tiny", "--seed", 0, "--out", out)
    return out


@pytest.fixture(scope="session")
def layers(tiny):
    """The tiny preset's number of decoder layers."""
    return json.loads((tiny / "config.json").read_text())["num_hidden_layers"]


@pytest.fixture(scope="session")
def ait_llm_package():
    """The ait_llm package as built: $AIT_BUILD_DIR/python put first on sys.path."""
    import importlib
    import sys
    folder = BUILD / "python"
    if not (folder / "ait_llm" / "__init__.py").exists():
        pytest.fail(f"{folder}/ait_llm is missing: run 'make build' first (or set AIT_BUILD_DIR)")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    package = importlib.import_module("ait_llm")
    assert pathlib.Path(package.__file__).resolve().parent == (folder / "ait_llm").resolve(), \
        f"ait_llm was imported from {package.__file__}, not from {folder}"
    return package
