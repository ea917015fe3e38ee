"""`pytest_test`: a py_test that runs pytest on its source files (through //tools/bazel:pytest_main.py)."""

_MAIN = "//tools/bazel:pytest_main.py"

# Legacy Keras must be chosen before Python starts (../shared/docs/environment.md §3).
_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_USE_LEGACY_KERAS": "1",
}

def pytest_test(name, srcs, deps = [], data = [], env = {}, **kwargs):
    """One py_test running `pytest <srcs>` with the repo's pytest config and the package's conftest.py.

    Args:
      name: the test target's name.
      srcs: the test files (test_*.py) of the calling package.
      deps: py_library targets the tests import.
      data: extra runtime files.
      env: extra environment; TF_USE_LEGACY_KERAS=1 is always set.
      **kwargs: passed on to py_test (size, tags, timeout, ...).
    """
    test_env = dict(_ENV)
    test_env.update(env)
    native.py_test(
        name = name,
        srcs = srcs + [_MAIN],
        main = _MAIN,
        args = ["$(rootpath %s)" % src for src in srcs],
        data = data + ["//:pyproject.toml"] + native.glob(["conftest.py"]),
        deps = deps,
        env = test_env,
        python_version = "PY3",
        srcs_version = "PY3",
        **kwargs
    )
