"""Fuzz `.metalab.toml`, `.metalab.local.toml` and `settings.yaml`: whatever the structure,
types, sizes, depth or encoding, reading (and resolving an environment from) a file gives a
result or one `ConfigError` line — never another exception (a traceback in the CLI).

Documents are drawn near the real schema (known keys, wrong types, unsafe names, non-finite
numbers, dates, NUL, long strings) and serialised by hand, so that invalid TOML/YAML and
encodings are fuzzed as well; 2,000 examples per file kind, plus raw bytes and deep nesting.
"""

from __future__ import annotations

import datetime
import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metalab._cli.context import to_spec
from metalab._config.resolve import load_project, resolve_environment
from metalab.core.bundle.files import bundle_path
from metalab.errors import ConfigError
from metalab.workspace.settings import load_settings

EXAMPLES = 2000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FEW = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

VALID_BASE = '[project]\nname = "p"\n\n[environments.local]\ntype = "local"\n'

TOML_KEYS = [
    "project", "name", "default_env", "services", "postgres", "atlas", "port", "start_timeout",
    "run_as", "password", "auth_method", "database", "user", "image", "environments", "local",
    "gpu", "type", "file_root", "runtime", "workers", "executor", "partition", "time", "cpus",
    "modules", "setup", "sbatch_args", "gateway", "tunnel", "queue_timeout", "extra_sbatch",
]  # fmt: skip
YAML_KEYS = [
    "server", "host", "port", "token", "env", "workspaces", "id", "path", "triggers",
    "folders", "mode", "ssh", "shell_init", "uv_offline", "python", "metalab_path", "options",
]  # fmt: skip
ODD_TEXT = [
    "", "p", "local", "slurm", "auto", "native", "../../x", "a/b", "..", ".hidden", "a\0b",
    "tab\there", "new\nline", "é", "\U0001f600", "x" * 101, "n" * 20_000, "${env:HOME}",
    "${env:METALAB_FUZZ_UNSET}", "use", "scram-sha-256", "trust", "1979-05-27",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(ODD_TEXT)
    | st.text(max_size=12)
    | st.dates()
    | st.datetimes()
)


def documents(keys: list[str]) -> st.SearchStrategy[Any]:
    key = st.sampled_from(keys) | st.text(max_size=6)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key, inner, max_size=3),
        max_leaves=6,
    )


def toml_documents() -> st.SearchStrategy[dict[str, Any]]:
    value = documents(TOML_KEYS)
    environment = st.fixed_dictionaries(
        {"type": st.sampled_from(["local", "slurm", "x"]) | value},
        optional={k: value for k in ("file_root", "runtime", "workers", "services", "executor")},
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "project": st.dictionaries(st.sampled_from(["name", "default_env", "x"]), value),
            "services": st.dictionaries(st.sampled_from(["postgres", "atlas", "x"]), value),
            "environments": st.dictionaries(st.sampled_from(ODD_TEXT[:12]), environment | value),
            "extra": value,
        },
    )


def yaml_documents() -> st.SearchStrategy[dict[str, Any]]:
    value = documents(YAML_KEYS)
    workspace = st.dictionaries(st.sampled_from(YAML_KEYS + ["pth"]), value, max_size=6)
    return st.fixed_dictionaries(
        {},
        optional={
            "server": st.dictionaries(st.sampled_from(["host", "port", "token", "x"]), value),
            "env": st.dictionaries(st.sampled_from(ODD_TEXT[:12]), value) | value,
            "workspaces": st.lists(workspace | value, max_size=3) | value,
            "extra": value,
        },
    )


def toml_value(value: Any) -> str:
    """TOML for ``value`` (inline tables and arrays); NaN and infinities as TOML writes them."""
    if value is None:
        return '""'  # TOML has no null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # beyond 64 bits: TOML refuses it (a fuzzed error)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)  # JSON escapes are TOML basic-string escapes (surrogates aside)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    items = ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items())
    return "{" + items + "}"


def to_toml(document: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in document.items())


def to_yaml(document: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(document, allow_unicode=True))


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="metalab-fuzz-") as name:
        yield Path(name)


def one_line(exc: ConfigError) -> None:
    message = str(exc)
    assert "\n" not in message and len(message) < 1000, message[:2000]


def check_project(directory: Path) -> None:
    """What every CLI command does first: load, resolve, and name the bundle's path."""
    try:
        project = load_project(directory)
        environment = resolve_environment(project, None, (), {})
        to_spec(environment)
        bundle_path(environment.project, environment.name, environment.file_root)
    except ConfigError as exc:
        one_line(exc)


def check_settings(path: Path) -> None:
    try:
        load_settings(path)
    except ConfigError as exc:
        one_line(exc)


def write(path: Path, data: str | bytes) -> None:
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)


# -- .metalab.toml ------------------------------------------------------------------------------


@FUZZ
@given(toml_documents())
def test_metalab_toml_structures(workdir: Path, document: dict[str, Any]) -> None:
    write(workdir / ".metalab.toml", to_toml(document))
    check_project(workdir)


@FUZZ
@given(toml_documents())
def test_metalab_local_toml_structures(workdir: Path, document: dict[str, Any]) -> None:
    write(workdir / ".metalab.toml", VALID_BASE)
    write(workdir / ".metalab.local.toml", to_toml(document))
    check_project(workdir)


@FUZZ
@given(yaml_documents())
def test_settings_yaml_structures(workdir: Path, document: dict[str, Any]) -> None:
    path = workdir / "settings.yaml"
    write(path, to_yaml(document))
    check_settings(path)


# -- raw bytes, encodings, depth and size -------------------------------------------------------

raw_texts = (
    st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.sampled_from(["utf-16", "latin-1", "utf-8-sig"]).map(
        lambda enc: 'name = "é"\n[project]\n'.encode(enc)
    )
)


@FUZZ
@given(raw_texts, st.sampled_from([".metalab.toml", ".metalab.local.toml", "settings.yaml"]))
def test_arbitrary_bytes(workdir: Path, raw: bytes, name: str) -> None:
    write(workdir / ".metalab.toml", VALID_BASE if name != ".metalab.toml" else raw)
    if name == ".metalab.local.toml":
        write(workdir / name, raw)
    if name == "settings.yaml":
        write(workdir / name, raw)
        check_settings(workdir / name)
    else:
        check_project(workdir)


@FEW
@given(
    st.integers(min_value=1, max_value=2000),
    st.sampled_from(["toml-array", "toml-inline", "toml-dotted", "yaml-flow", "yaml-block"]),
)
def test_deep_nesting(workdir: Path, depth: int, shape: str) -> None:
    if shape == "toml-array":
        text = VALID_BASE + "file_root = " + "[" * depth + "]" * depth + "\n"
    elif shape == "toml-inline":
        text = "x = " + "{a = " * depth + "1" + "}" * depth + "\n"
    elif shape == "toml-dotted":
        text = ".".join(["a"] * depth) + " = 1\n"
    elif shape == "yaml-flow":
        text = "env: " + "[" * depth + "]" * depth + "\n"
    else:
        depth = min(depth, 400)  # two spaces a level: 400 levels is ~160 KB
        text = "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "x\n"
    if shape.startswith("yaml"):
        write(workdir / "settings.yaml", text)
        check_settings(workdir / "settings.yaml")
    else:
        write(workdir / ".metalab.toml", text)
        check_project(workdir)


@FEW
@given(st.integers(min_value=0, max_value=3_000_000), st.sampled_from(["toml", "yaml"]))
def test_sizes(workdir: Path, size: int, kind: str) -> None:
    if kind == "toml":
        write(workdir / ".metalab.toml", '[project]\nname = "' + "n" * size + '"\n')
        check_project(workdir)
    else:
        write(workdir / "settings.yaml", "env:\n  X: " + "x" * size + "\n")
        check_settings(workdir / "settings.yaml")
