"""Copying runs (records, derived metrics, logs, optionally artifacts) between stores."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from metalab.store.capabilities import SupportsLogListing
from metalab.store.locator import create_store, parse_to_config

if TYPE_CHECKING:
    from metalab.store.base import Store

logger = logging.getLogger(__name__)

COMMON_LOGS = ("run", "stdout", "stderr")


def _copy_logs(source: Store, destination: Store, run_id: str) -> int:
    names = source.list_logs(run_id) if isinstance(source, SupportsLogListing) else COMMON_LOGS
    copied = 0
    for name in names:
        content = source.get_log(run_id, name)
        if content:
            destination.put_log(run_id, name, content)
            copied += 1
    return copied


def _copy_artifacts(source: Store, destination: Store, run_id: str) -> int:
    copied = 0
    for artifact in source.list_artifacts(run_id):
        try:
            destination.put_artifact(source.get_artifact(artifact.uri), artifact)
        except Exception as exc:  # noqa: BLE001 - one unreadable artifact must not stop the export
            logger.warning("Failed to export artifact %s: %s", artifact.name, exc)
            continue
        copied += 1
    return copied


def export_store(
    source: str | Store,
    destination: str | Store,
    *,
    experiment_id: str | None = None,
    include_derived: bool = True,
    include_logs: bool = True,
    include_artifacts: bool = False,
    overwrite: bool = False,
    progress_callback: Callable[[int, int], None] | None = None,
    **kwargs: Any,
) -> dict[str, int]:
    """Copy the runs of ``source`` (of ``experiment_id`` when given) to ``destination``.

    Stores may be given as locators (``kwargs`` go to `create_store`). Runs already in the
    destination are skipped unless ``overwrite``. ``progress_callback(done, total)`` is
    called after each run. Returns counts: ``{"runs", "derived", "logs", "artifacts"}``.

    With both given as locators, they are collections (`metalab.store.collection`): runs
    are copied experiment by experiment, into each experiment's directory, with their
    structured results and manifests, and the counts also hold ``skipped``, ``results``
    and ``manifests``.
    """
    if isinstance(source, str) and isinstance(destination, str):
        from metalab.store.collection import CopyOptions, copy_collection

        options = CopyOptions(
            include_derived=include_derived,
            include_logs=include_logs,
            include_artifacts=include_artifacts,
            overwrite=overwrite,
        )
        return copy_collection(
            parse_to_config(source, **kwargs),
            parse_to_config(destination, **kwargs),
            experiment_id=experiment_id,
            options=options,
            progress=progress_callback,
        )
    src = create_store(source, **kwargs) if isinstance(source, str) else source
    dst = create_store(destination, **kwargs) if isinstance(destination, str) else destination
    counts = {"runs": 0, "derived": 0, "logs": 0, "artifacts": 0}
    records = src.list_run_records(experiment_id)
    total = len(records)
    logger.info("Exporting %d runs from %s to %s", total, type(src).__name__, type(dst).__name__)
    for done, record in enumerate(records, start=1):
        run_id = record.run_id
        if not overwrite and dst.run_exists(run_id):
            logger.debug("Skipping existing run: %s", run_id)
            continue
        dst.put_run_record(record)
        counts["runs"] += 1
        if include_derived:
            derived = src.get_derived(run_id)
            if derived:
                dst.put_derived(run_id, derived)
                counts["derived"] += 1
        if include_logs:
            counts["logs"] += _copy_logs(src, dst, run_id)
        if include_artifacts:
            counts["artifacts"] += _copy_artifacts(src, dst, run_id)
        if progress_callback is not None:
            progress_callback(done, total)
    logger.info("Export complete: %s", counts)
    return counts
