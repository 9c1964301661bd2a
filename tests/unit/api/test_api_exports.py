"""metalab._api: upstream's top-level names, loaded lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

from metalab import _api

UPSTREAM_ALL = """__version__ RunRecord ArtifactDescriptor Status Provenance Event EventKind
EventCallback SeedBundle SeedPlan seeds Capture Runtime CancellationToken CancelledError
operation OperationWrapper ParamSource ParamCase ParamResolver GridSource RandomSource
ManualSource ResolvedSource grid random manual with_resolver uniform loguniform
loguniform_int randint choice ContextSpec FrozenContext context_spec Experiment
ExperimentInfo Results Run run load_results reconnect Store StoreConfig FileStore
FileStoreConfig PostgresStoreConfig Executor ThreadExecutor ProcessExecutor RunPayload
RunHandle RunStatus LocalRunHandle SlurmExecutor SlurmConfig SlurmRunHandle
resolve_executor MetricDisplay Progress ProgressTracker SimpleProgressTracker
create_progress_tracker display_results file_hash dir_hash FilePath DirPath
Fingerprintable""".split()


def test_all_is_upstreams() -> None:
    assert _api.__all__ == UPSTREAM_ALL
    assert len(UPSTREAM_ALL) == 70


def test_lazy_table_lists_all_in_order_then_the_additions() -> None:
    names = list(_api._MODULE_OF)
    assert names[: len(UPSTREAM_ALL) - 1] == UPSTREAM_ALL[1:]
    assert names[len(UPSTREAM_ALL) - 1 :] == ["ExperimentConfig", "load_experiment_config"]


@pytest.mark.parametrize("name", UPSTREAM_ALL)
def test_every_name_resolves(name: str) -> None:
    assert getattr(_api, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _api.__getattr__("no_such_name")


def test_installed_package_keeps_functions_named_like_submodules() -> None:
    package = types.ModuleType("fake_metalab")
    _api.install(package)
    for name in ("seeds", "operation"):
        module = importlib.import_module(f"metalab.{name}")
        setattr(package, name, module)  # what importing a submodule does to its parent
        assert getattr(package, name) is getattr(module, name)
    assert {"Experiment", "run", "seeds"} <= set(dir(package))


def test_importing_the_api_loads_nothing_heavy() -> None:
    code = (
        "import sys, metalab._api\n"
        "heavy = {'numpy', 'pandas', 'rich', 'psycopg', 'grpc', 'pydantic'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
