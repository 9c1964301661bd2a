"""The selection priority table: --workspace → --workdir → triggers → first local → default."""

from __future__ import annotations

from pathlib import Path

import pytest

from metalab.errors import ConfigError
from metalab.workspace.selection import (
    WORKDIR_ID,
    default_store_root,
    run_environment,
    select_workspace,
)
from metalab.workspace.settings import load_settings

DOC = """
env: {GLOBAL: g, SHARED: global}
workspaces:
  - id: cluster            # remote: never picked by triggers or default
    path: /remote/x
    triggers: ["*"]
    ssh: {host: cluster}
  - id: fallback           # first local workspace: the default
    path: /ws/fallback
  - id: nlp
    path: /ws/nlp
    env: {SHARED: nlp}
    triggers: ["nlp-*", "transformer-?"]
  - id: vision
    path: /ws/vision
    triggers: ["vis[abc]", "nlp-special"]
"""


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(DOC)
    return load_settings(path)


@pytest.mark.parametrize(
    ("experiment", "workspace", "workdir", "expected"),
    [
        ("nlp-1", "vision", None, "vision"),  # explicit wins over triggers
        ("nlp-1", "vision", "/elsewhere", "vision"),  # explicit wins over --workdir
        ("nlp-1", None, "/ws/fallback", "fallback"),  # workdir naming a configured workspace
        ("nlp-1", None, "/elsewhere", WORKDIR_ID),  # workdir wins over triggers
        ("nlp-1", None, None, "nlp"),  # trigger
        ("nlp-special", None, None, "nlp"),  # first matching workspace in file order wins
        ("transformer-x", None, None, "nlp"),  # ? matches one character
        ("transformer-xy", None, None, "fallback"),  # ... and only one
        ("visb", None, None, "vision"),  # [abc]
        ("visd", None, None, "fallback"),
        ("NLP-1", None, None, "fallback"),  # case-sensitive on every platform
        ("anything", None, None, "fallback"),  # first *local* workspace, not the remote one
        (None, None, None, "fallback"),
    ],
)
def test_priority_table(settings, experiment, workspace, workdir, expected):
    chosen = select_workspace(settings, experiment, workspace, workdir)
    assert chosen is not None and chosen.id == expected


def test_workdir_is_absolute_and_used_as_is(settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chosen = select_workspace(settings, "nlp-1", workdir="runs")
    assert chosen is not None and chosen.path == tmp_path / "runs" and not chosen.folders


def test_no_settings_means_todays_default(tmp_path):
    assert select_workspace(None, "exp") is None
    assert default_store_root(None, tmp_path) == tmp_path / "experiments"
    chosen = select_workspace(None, "exp", workdir=tmp_path / "w")
    assert chosen is not None and default_store_root(chosen) == tmp_path / "w"


def test_only_remote_workspaces_fall_back_to_default(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("workspaces: [{id: c, path: /r, triggers: ['*'], ssh: {host: c}}]\n")
    assert select_workspace(load_settings(path), "exp") is None


def test_unknown_workspace_is_a_clear_error(settings):
    with pytest.raises(
        ConfigError, match=r"unknown workspace 'nope' \(known: cluster, fallback, nlp, "
    ):
        select_workspace(settings, "x", "nope")


def test_explicit_remote_workspace_is_refused_for_local_runs(settings):
    with pytest.raises(ConfigError, match="is remote"):
        select_workspace(settings, "x", "cluster")
    chosen = select_workspace(settings, "x", "cluster", allow_remote=True)
    assert chosen is not None and chosen.is_remote


def test_explicit_workspace_without_settings(tmp_path):
    with pytest.raises(ConfigError, match="no settings file"):
        select_workspace(None, "x", "nlp")


def test_environment_merge_order(settings):
    nlp = settings.workspace("nlp")
    assert run_environment(settings, nlp) == {"GLOBAL": "g", "SHARED": "nlp"}
    assert run_environment(settings, nlp, {"SHARED": "run"})["SHARED"] == "run"
    assert run_environment(None, None, {"A": "1"}) == {"A": "1"}
    assert default_store_root(nlp) == Path("/ws/nlp")
