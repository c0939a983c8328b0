"""The programs and libraries that come with the package, and the `ait` and `ait-engine`
commands pip installs (pyproject.toml [project.scripts]).

A wheel holds them in the package itself, ait_llm/bin and ait_llm/lib (cmake/install.cmake);
the build tree has them in build/bin and build/lib, beside build/python/ait_llm. They are
looked up beside the compiled extension, which is where the installed files are even in an
editable install, whose Python sources stay in the checkout."""
import importlib.util
import os
import pathlib
import sys


def _roots():
    spec = importlib.util.find_spec("ait_llm._ait_core")
    if spec is not None and spec.origin:
        package = pathlib.Path(spec.origin).resolve().parent
    else:
        package = pathlib.Path(__file__).resolve().parents[1]
    return [package, package.parents[1]]  # the wheel's ait_llm/, the build tree's build/


def find(kind, name):
    """`name` in the bundled `kind` folder ("bin" or "lib"), or None."""
    for root in _roots():
        candidate = root / kind / name
        if candidate.is_file():
            return candidate
    return None


def _run(name):
    program = find("bin", name)
    if program is None:
        tried = ", ".join(str(root / "bin" / name) for root in _roots())
        sys.exit(f"{name}: the program is not in this installation of ait_llm (looked at {tried}); "
                 "reinstall it with `pip install .` from a clone of ait-llm")
    os.execv(program, [name, *sys.argv[1:]])


def ait():
    """The `ait` command: runs the bundled program, which finds the bundled probe beside it."""
    _run("ait")


def ait_engine():
    """The `ait-engine` command: the reference engine's runner."""
    _run("ait-engine")
