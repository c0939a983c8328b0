"""Installing ait-llm the two ways docs/INSTALL.md describes, each then used from outside the
repository with nothing pointing back into it (no PYTHONPATH, no AIT_BUILD_DIR, another cwd):

- `cmake --install` of the build into a temporary prefix: a C++ program built against it
  with find_package(ait) (and one with pkg-config) reads tensor files and computes their
  metrics; the installed `ait` dumps the installed `ait-engine` through the installed probe,
  also after the prefix has moved; completion and man pages are in place.
- `pip install` of a copy of the repository into a fresh venv (--system-site-packages, so
  Debian's torch is visible): a torch model dumped with register_hook, the bundled engine
  dumped with `ait llm dump --exec`, `ait llm compare` of the two naming the planted root cause.

The pip build is a second CMake build. With ccache (the Makefile's Release build goes through
it) it compiles almost nothing: the copy lies under the repository, whose paths ccache hashes
relative to CCACHE_BASEDIR."""
import json
import os
import pathlib
import shutil
import subprocess
import tomllib

import numpy as np
import pytest

from conftest import BUILD, REPO

PROMPT = "1,17,42,99,200"
STEPS = 2
FAULT = "LinearOperation_2_9=scale:1.25"  # layer 2's gate projection, as `make demo`


def outside_env(path_first=None):
    """The environment of a user's shell: nothing that points into the repository or build."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AIT_BUILD_DIR", "VIRTUAL_ENV")}
    if path_first:
        env["PATH"] = f"{path_first}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def run(args, cwd, env, timeout=600):
    r = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, args))}: rc={r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


def complete(completion_script, words, path_first):
    """COMPREPLY of the installed bash completion for the command line `words` (the last word
    is the one being completed)."""
    script = (f'source "{completion_script}"; COMP_WORDS=({" ".join(words)}); COMP_CWORD={len(words) - 1}; '
              '_ait; printf "%s\\n" "${COMPREPLY[@]}"')
    r = run(["bash", "--norc", "-c", script], cwd="/", env=outside_env(path_first))
    return r.stdout.split()


def assert_runpaths_are_relative(files):
    """Nothing installed looks for libraries in the build tree: RUNPATH is $ORIGIN-relative."""
    for f in files:
        dynamic = run(["readelf", "-d", f], cwd="/", env=outside_env()).stdout
        for line in dynamic.splitlines():
            if "RUNPATH" in line or "RPATH" in line:
                paths = line.split("[", 1)[1].rstrip("]").split(":")
                assert all(p.startswith("$ORIGIN") for p in paths), f"{f}: {line}"


def numpy_metrics(golden, my):
    g, m = golden.astype(np.float64).ravel(), my.astype(np.float64).ravel()
    absolute = np.abs(m - g)
    return {"cosine_similarity": g @ m / (np.linalg.norm(g) * np.linalg.norm(m)),
            "max_absolute_error": absolute.max(), "mean_absolute_error": absolute.mean(),
            "max_relative_error": (absolute / np.abs(g)).max()}


# ---------------------------------------------------------------------------------------------
# cmake --install


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    """`cmake --install` of the tested build into a fresh prefix."""
    out = tmp_path_factory.mktemp("cmake-install") / "prefix"
    run(["cmake", "--install", BUILD, "--prefix", out], cwd=REPO, env=outside_env())
    return out


def test_cmake_install_lays_out_programs_libraries_headers_and_package(prefix):
    for f in ("bin/ait", "bin/ait-engine", "lib/libait_core.so", "lib/libait_engine.so",
              "lib/libait_probe_abi0.so", "lib/libait_probe_abi1.so", "include/ait/tensor_io.h",
              "include/ait/metrics.h", "include/ait_engine/graph.h", "lib/cmake/ait/aitConfig.cmake",
              "lib/cmake/ait/aitConfigVersion.cmake", "lib/cmake/ait/aitTargets.cmake", "lib/pkgconfig/ait.pc",
              "share/bash-completion/completions/ait", "share/man/man1/ait.1"):
        assert (prefix / f).is_file(), f
    # Headers whose library is not installed are not either.
    assert not (prefix / "include/ait/atb_onnx.h").exists()
    assert_runpaths_are_relative([prefix / "bin/ait", prefix / "bin/ait-engine", prefix / "lib/libait_core.so",
                                  prefix / "lib/libait_engine.so", prefix / "lib/libait_probe_abi1.so"])
    version = run([prefix / "bin/ait", "--version"], cwd="/", env=outside_env()).stdout
    assert version.startswith("ait-llm 0.1.0 (git ")


@pytest.fixture(scope="module")
def tensor_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensors")
    rng = np.random.default_rng(3)
    golden = rng.standard_normal((4, 33)).astype(np.float32) + 2.0
    my = (golden * (1 + 0.03 * rng.standard_normal(golden.shape))).astype(np.float16)
    np.save(folder / "golden.npy", golden)
    np.save(folder / "my.npy", my)
    return folder, golden, my


def assert_metrics_output(stdout, golden, my):
    got = json.loads(stdout)
    assert got["numel"] == golden.size and got["dtype"] == "torch.float32"
    want = numpy_metrics(golden, my.astype(np.float32))
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key
    assert got["golden_max"] == pytest.approx(float(golden.max()))


def test_find_package_consumer_reads_tensors_and_computes_metrics(prefix, tensor_pair, tmp_path):
    folder, golden, my = tensor_pair
    build = tmp_path / "consumer"
    run(["cmake", "-S", REPO / "tests/install/consumer", "-B", build, "-G", "Ninja",
         f"-DCMAKE_PREFIX_PATH={prefix}"], cwd=tmp_path, env=outside_env())
    run(["cmake", "--build", build], cwd=tmp_path, env=outside_env())
    r = run([build / "tensor_metrics", folder / "golden.npy", folder / "my.npy"], cwd=tmp_path, env=outside_env())
    assert_metrics_output(r.stdout, golden, my)
    linked = run(["ldd", build / "tensor_metrics"], cwd=tmp_path, env=outside_env()).stdout
    assert f"{prefix}/lib/libait_core.so" in linked


def test_pkg_config_consumer_reads_tensors_and_computes_metrics(prefix, tensor_pair, tmp_path):
    folder, golden, my = tensor_pair
    env = {**outside_env(), "PKG_CONFIG_PATH": str(prefix / "lib/pkgconfig")}
    flags = run(["pkg-config", "--cflags", "--libs", "ait"], cwd=tmp_path, env=env).stdout.split()
    assert "-lait_core" in flags
    program = tmp_path / "tensor_metrics"
    run(["c++", "-std=c++20", REPO / "tests/install/consumer/tensor_metrics.cc", "-o", program, *flags,
         f"-Wl,-rpath,{prefix}/lib"], cwd=tmp_path, env=env)
    assert_metrics_output(run([program, folder / "golden.npy", folder / "my.npy"], cwd=tmp_path, env=env).stdout,
                          golden, my)


def dump_engine(bin_dir, out, model, env, extra=()):
    """`ait llm dump --exec "ait-engine run ..."` with the programs of `bin_dir`; returns the log."""
    r = run([bin_dir / "ait", "llm", "dump", "--type", "model", "layer", "tensor", "-er", "0,1", "-o", out, "--exec",
             f"{bin_dir / 'ait-engine'} run --model {model} --input-ids {PROMPT} --max-new-tokens {STEPS} "
             f"--dtype fp16 --perturb {FAULT}", *extra], cwd=out.parent, env=env)
    return r.stdout + r.stderr


def test_installed_ait_dumps_with_the_installed_probe_even_after_the_prefix_moves(prefix, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(prefix, moved, symlinks=True)
    model = tmp_path / "model"
    run([moved / "bin/ait-engine", "init", "--preset", "tiny", "--seed", 7, "--out", model], cwd=tmp_path,
        env=outside_env())
    log = dump_engine(moved / "bin", tmp_path / "dump", model, outside_env())
    assert f"probe: {moved}/lib/libait_probe_abi1.so" in log
    (tensors,) = (tmp_path / "dump/ait_dump/tensors").glob("0_*")
    assert len(list(tensors.rglob("outtensor0.bin"))) > 50
    # The old string ABI's flavour is installed and chosen the same way.
    log = dump_engine(moved / "bin", tmp_path / "dump-abi0", model, outside_env(), extra=("--probe-abi", "0"))
    assert f"probe: {moved}/lib/libait_probe_abi0.so" in log


def test_bash_completion_offers_commands_and_flags(prefix):
    script = prefix / "share/bash-completion/completions/ait"
    assert complete(script, ["ait", "l"], prefix / "bin") == ["llm"]
    assert complete(script, ["ait", "llm", "co"], prefix / "bin") == ["compare"]
    assert complete(script, ["ait", "llm", "o"], prefix / "bin") == ["onnx", "opcheck"]
    assert complete(script, ["ait", "llm", "compare", "--golden"], prefix / "bin") == ["--golden-path"]
    assert "-gp" in complete(script, ["ait", "llm", "compare", "-g"], prefix / "bin")
    assert "--exec" in complete(script, ["ait", "llm", "dump", "--"], prefix / "bin")
    # Not an option: left to file-name completion.
    assert complete(script, ["ait", "llm", "compare", "-gp", "x"], prefix / "bin") == []


@pytest.mark.parametrize("command", ["compare", "dump", "errcheck", "onnx", "opcheck"])
def test_man_page_documents_every_option(prefix, command):
    page = (prefix / f"share/man/man1/ait-llm-{command}.1").read_text()
    assert page.startswith(f".TH AIT-LLM-{command.upper()} 1 ")
    assert ".SH NAME\nait-llm-" in page and ".SH DESCRIPTION" in page
    options = run([prefix / "bin/ait", "llm", command, "__complete"], cwd="/", env=outside_env()).stdout.split()
    assert len(options) > 4
    for option in options:
        assert option.replace("-", "\\-") in page, option


# ---------------------------------------------------------------------------------------------
# pip install


def copy_repository(dest):
    """The repository's files as a clone has them: tracked and untracked-but-not-ignored ones."""
    r = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "-co", "--exclude-standard"], capture_output=True,
                       check=True)
    for name in filter(None, r.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():  # a file deleted but not yet staged is still listed
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def cmake_cache():
    """The tested build's CMakeCache.txt as {name: value}."""
    entries = {}
    for line in (BUILD / "CMakeCache.txt").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and ":" in name and not line.startswith(("#", "//")):
            entries[name.split(":", 1)[0]] = value
    return entries


def repository_copy(name):
    """A fresh copy of the repository under the build folder, so that it shares
    CCACHE_BASEDIR with the repository; and the environment to build it in."""
    copy = BUILD / "install-test" / name
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(parents=True)
    copy_repository(copy)
    env = outside_env()
    env["CCACHE_BASEDIR"] = os.path.commonpath([REPO.resolve(), copy.resolve()])
    return copy, env


def pip_settings(build_dir):
    """--config-settings for a build in `build_dir` (one level below the copy, as build/ is
    below the repository) with the compilers, flags and launcher of `make build`, so that
    ccache finds its objects (pip would otherwise take sysconfig's x86_64-linux-gnu-g++,
    another name for the same g++)."""
    settings = [f"build-dir={build_dir}", "cmake.define.AIT_WERROR=ON"]
    cache = cmake_cache()
    for variable in ("CMAKE_C_COMPILER", "CMAKE_CXX_COMPILER", "CMAKE_C_COMPILER_LAUNCHER",
                     "CMAKE_CXX_COMPILER_LAUNCHER"):
        if cache.get(variable):
            settings.append(f"cmake.define.{variable}={cache[variable]}")
    return [f"--config-settings={s}" for s in settings]


def fresh_venv(folder, env, user_packages=True):
    run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", folder], cwd="/", env=env)
    if user_packages:
        # The user's environment has their model's packages: Debian's torch (system site
        # packages), and transformers, pinned as the project's own venv has it.
        run([folder / "bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
             REPO / "scripts/requirements-transformers.txt"], cwd="/", env=env)
    return folder


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with ait-llm pip-installed from a copy of the repository."""
    copy, env = repository_copy("ait-llm")
    folder = fresh_venv(tmp_path_factory.mktemp("pip") / "venv", env)
    run([folder / "bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check", copy,
         *pip_settings(copy / "build")], cwd=copy.parent, env=env, timeout=1500)
    shutil.rmtree(copy)  # nothing may depend on the copy or its build folder
    return folder


def test_pip_install_holds_the_programs_probe_and_extension(venv):
    (site,) = venv.glob("lib/python3*/site-packages")
    package = site / "ait_llm"
    for f in ("bin/ait", "bin/ait-engine", "lib/libait_core.so", "lib/libait_engine.so", "lib/libait_probe_abi0.so",
              "lib/libait_probe_abi1.so", "lib/libait_pyalg.so", "dump/ge_proto/ge_dump_data_pb2.py"):
        assert (package / f).is_file(), f
    (extension,) = package.glob("_ait_core*.so")
    assert_runpaths_are_relative([package / "bin/ait", package / "bin/ait-engine", extension])
    for script in ("ait", "ait-engine"):
        assert (venv / "bin" / script).is_file()
    assert (venv / "share/bash-completion/completions/ait").is_file()
    assert (venv / "share/man/man1/ait-llm-compare.1").is_file()
    version = run(["ait", "--version"], cwd="/", env=outside_env(venv / "bin")).stdout
    assert version.startswith("ait-llm 0.1.0 (git ")
    r = run([venv / "bin/python", "-c", "import ait_llm; print(ait_llm.__version__, ait_llm.__file__)"], cwd="/",
            env=outside_env())
    assert r.stdout.split() == ["0.1.0", str(package / "__init__.py")]


def test_pip_installed_toolkit_finds_the_root_cause_from_outside_the_repository(venv, tmp_path):
    env = outside_env(venv / "bin")
    python = venv / "bin/python"
    # A checkpoint written by transformers itself (the repository's script, not the package).
    run([python, REPO / "python/golden/hf_llama.py", "init", "--preset", "tiny", "--seed", 7, "--out",
         tmp_path / "model"], cwd=tmp_path, env=env)
    # The golden: the user's own script hooks the model with the installed ait_llm.
    r = run([python, REPO / "tests/install/hook_dump.py", tmp_path / "model", tmp_path / "golden", PROMPT, STEPS],
            cwd=tmp_path, env=env)
    (site,) = venv.glob("lib/python3*/site-packages")
    assert r.stdout.split()[-1] == str(site / "ait_llm" / "__init__.py")
    # "My" run: the installed ait-engine in fp16 with a planted fault, under the installed ait.
    r = run(["ait", "llm", "dump", "--type", "model", "layer", "tensor", "-er", "0,1", "-o", tmp_path / "my",
             "--exec", f"ait-engine run --model {tmp_path / 'model'} --input-ids {PROMPT} --max-new-tokens {STEPS} "
             f"--dtype fp16 --perturb {FAULT}"], cwd=tmp_path, env=env)
    assert f"probe: {site}/ait_llm/lib/libait_probe_abi1.so" in r.stdout + r.stderr
    (golden,) = (tmp_path / "golden/ait_dump/torch_tensors").glob("cpu_*")
    (my,) = (tmp_path / "my/ait_dump/tensors").glob("0_*")
    r = run(["ait", "llm", "compare", "-gp", golden, "-mp", my, "-o", tmp_path / "out"], cwd=tmp_path, env=env)
    assert "root cause #1: LinearOperation_2_9 [LinearOperation] vs golden root.model.layers.1.mlp.gate_proj" \
        in r.stdout
    (summary,) = (tmp_path / "out").glob("ait_cmp_summary_*.json")
    causes = json.loads(summary.read_text())["root_causes"]
    assert [(c["my_name"], c["golden_name"]) for c in causes] == [("LinearOperation_2_9",
                                                                   "root.model.layers.1.mlp.gate_proj")]
    # The same comparison through the installed Python API.
    r = run([python, "-c", "import sys, ait_llm; "
             "print(ait_llm.compare_folders(sys.argv[1], sys.argv[2])[\"summary\"][\"root_causes\"][0][\"my_name\"])",
             golden, my], cwd=tmp_path, env=env)
    assert r.stdout.strip() == "LinearOperation_2_9"


def test_editable_install_runs_the_python_sources_in_place(tmp_path):
    copy, env = repository_copy("ait-llm-editable")
    try:
        folder = fresh_venv(tmp_path / "venv", env, user_packages=False)
        # docs/INSTALL.md: the build backend in the venv, and no build isolation, so that the
        # build folder's configuration stays valid from one install to the next.
        requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
        run([folder / "bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check", *requires], cwd="/",
            env=env)
        install = [folder / "bin/python", "-m", "pip", "install", "--disable-pip-version-check", "--no-build-isolation",
                   "-e", copy, *pip_settings(copy / "build-editable")]
        run([*install, "-q"], cwd=tmp_path, env=env, timeout=1500)
        python = [folder / "bin/python", "-c", "import ait_llm, ait_llm._ait_core; print(ait_llm.__file__); "
                  "print(ait_llm.__version__); import ait_llm.edited; print(ait_llm.edited.VALUE)"]
        # A module added to the sources is importable without reinstalling.
        (copy / "python/ait_llm/edited.py").write_text("VALUE = 42\n")
        r = run(python, cwd=tmp_path, env=outside_env())
        assert r.stdout.split() == [str(copy / "python/ait_llm/__init__.py"), "0.1.0", "42"]
        version = run(["ait", "--version"], cwd=tmp_path, env=outside_env(folder / "bin")).stdout
        assert version.startswith("ait-llm 0.1.0 (git ")
        # Installing again reuses the build folder: nothing is compiled or linked.
        r = run([*install, "-v"], cwd=tmp_path, env=env, timeout=1500)
        log = r.stdout + r.stderr
        assert "*** Building project with Ninja" in log
        assert "Building CXX object" not in log and "Linking" not in log, log[-3000:]
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def test_installed_ait_without_its_probe_says_which_file_is_missing(prefix, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(prefix, broken, symlinks=True)
    (broken / "lib/libait_probe_abi1.so").unlink()
    r = subprocess.run([broken / "bin/ait", "llm", "dump", "-o", tmp_path / "dump", "--exec", "true"],
                       capture_output=True, text=True, cwd=tmp_path, env=outside_env(), timeout=60)
    assert r.returncode == 1, r.stderr
    assert f"{broken}/lib/libait_probe_abi1.so" in r.stderr and "the probe library is missing" in r.stderr
    assert not (tmp_path / "dump").exists()  # refused before anything was written


def test_console_script_without_its_program_says_where_it_looked(tmp_path):
    # The pure-Python package alone: no extension, no bin/ beside it.
    shutil.copytree(REPO / "python/ait_llm", tmp_path / "site/ait_llm")
    r = subprocess.run(["/usr/bin/python3", "-c", "from ait_llm.common.bundled import ait; ait()", "--version"],
                       capture_output=True, text=True, cwd=tmp_path,
                       env={**outside_env(), "PYTHONPATH": str(tmp_path / "site")}, timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith(f"ait: the program is not in this installation of ait_llm (looked at "
                               f"{tmp_path / 'site/ait_llm/bin/ait'}, {tmp_path / 'bin/ait'})")
