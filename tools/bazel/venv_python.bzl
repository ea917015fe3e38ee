"""A repository rule that registers the project's virtualenv interpreter as the Python toolchain.

The interpreter path must be absolute and clones live anywhere, so it is computed when Bazel fetches the
repository: `$BAZEL_PYTHON` if set, else `<workspace root>/.venv/bin/python` (made by scripts/bootstrap.sh).
On glibc < 2.39 that file is a shell wrapper around a private loader; it works both as `interpreter_path`
and as the shebang of Bazel's Python stub.
"""

_BUILD = """\
load("@bazel_tools//tools/python:toolchain.bzl", "py_runtime_pair")

py_runtime(
    name = "py3_runtime",
    interpreter_path = "{python}",
    python_version = "PY3",
    stub_shebang = "#!{python}",
)

py_runtime_pair(
    name = "runtime_pair",
    py3_runtime = ":py3_runtime",
)

toolchain(
    name = "toolchain",
    toolchain = ":runtime_pair",
    toolchain_type = "@bazel_tools//tools/python:toolchain_type",
    visibility = ["//visibility:public"],
)
"""

def _venv_python_impl(rctx):
    python = rctx.os.environ.get("BAZEL_PYTHON", "")
    if python:
        origin = "$BAZEL_PYTHON"
    else:
        root = rctx.path(Label("@//:WORKSPACE")).dirname
        python = "%s/.venv/bin/python" % root
        origin = "the workspace's .venv"
    if not python.startswith("/"):
        fail("BAZEL_PYTHON must be an absolute path, got %r" % python)
    if not rctx.path(python).exists:
        fail(("No Python interpreter at %s (from %s). Create the venv first: `make bootstrap` " +
              "(scripts/bootstrap.sh), or point BAZEL_PYTHON at an interpreter that has the project's dependencies.") %
             (python, origin))
    probe = rctx.execute([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    if probe.return_code != 0:
        fail("The interpreter %s (from %s) does not run:\n%s%s" % (python, origin, probe.stdout, probe.stderr))
    rctx.file("python_version.txt", probe.stdout)
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.file("BUILD", _BUILD.format(python = python))

venv_python = repository_rule(
    implementation = _venv_python_impl,
    environ = ["BAZEL_PYTHON"],
    local = True,
    doc = "Registers $BAZEL_PYTHON or <workspace>/.venv/bin/python as the Python 3 toolchain.",
)
