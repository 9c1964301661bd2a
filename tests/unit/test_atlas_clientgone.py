"""The client-gone watch's rules (pure logic; the real disconnect is tested in
tests/security/test_atlas_client_gone.py)."""

from __future__ import annotations

import threading
from contextvars import copy_context

import pytest

from metalab_atlas import clientgone
from metalab_atlas.clientgone import ClientGone, Watch


def test_only_running_statements_are_cancelled_and_none_starts_after() -> None:
    watch = Watch()
    sent: list[str] = []
    with watch.running(lambda: sent.append("done")):
        pass
    with watch.running(lambda: sent.append("running")):
        watch.cancel()
    assert sent == ["running"]
    with pytest.raises(ClientGone), watch.running(lambda: sent.append("late")):
        pass
    assert sent == ["running"]


def test_a_statement_outside_a_request_is_not_watched() -> None:
    with clientgone.statement(lambda: None):
        assert not clientgone.client_gone()


def test_threads_given_the_requests_context_share_its_watch() -> None:
    watch = Watch()
    seen: list[bool] = []

    def in_request() -> None:
        clientgone._current.set(watch)
        watch.cancel()
        context = copy_context()
        thread = threading.Thread(
            target=context.run, args=(lambda: seen.append(clientgone.client_gone()),)
        )
        thread.start()
        thread.join()

    copy_context().run(in_request)
    assert seen == [True]
    assert not clientgone.client_gone()
