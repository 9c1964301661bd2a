"""The Atlas ASGI application: a JSON API under ``/api/`` and the UI's static files."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from metalab.core.errors import StoreError
from metalab_atlas import (
    compare,
    curves,
    export,
    facets,
    histogram,
    multistore,
    search,
    slurm,
)
from metalab_atlas.about import about, shown_locator
from metalab_atlas.assets import Assets
from metalab_atlas.auth import TokenGuard
from metalab_atlas.bundleview import bundle_view
from metalab_atlas.clientgone import WatchDisconnect
from metalab_atlas.endpoints import Routes, StrictJSON
from metalab_atlas.floats import marked
from metalab_atlas.headercap import HeaderCap
from metalab_atlas.multistore import MultiSource
from metalab_atlas.openapi import OpenApi
from metalab_atlas.query import (
    MAX_LIMIT,
    MAX_QUERY_STRING,
    NotFound,
    QueryError,
    RunQuery,
    check_experiment_id,
    check_request_text,
    check_run_id,
    parse_query,
)
from metalab_atlas.remote import RemoteSource, SshSettings
from metalab_atlas.runfiles import content_type
from metalab_atlas.source import RunSource, open_source

MAX_COMPARE = 20
HANDLER_THREADS = 6  # request handlers running at once (docs/atlas.md, "Concurrent readers")
ARTIFACT_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
INLINE_TYPES = ("text/plain", "application/json", "image/png", "image/jpeg", "image/gif")


def create_app(
    store: str,
    token: str | None = None,
    bundle_path: str | None = None,
    refresh_interval: float = 2.0,
    freeze_gc: bool = False,
    ssh: SshSettings | None = None,
) -> Starlette:
    """Atlas for ``store``; every route requires ``token`` when one is given; ``freeze_gc``
    when Atlas is the process (see `metalab_atlas.fileindex.IndexRefresher`); ``ssh``: how
    to reach an ``ssh://`` store (`metalab_atlas.remote`)."""
    source = open_source(store, refresh_interval, freeze_gc, ssh)
    assets = Assets()
    bundle = Path(bundle_path) if bundle_path else None

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Handlers run in worker threads; past a few at once they only contend for the GIL
        # (and the store's connections): the others wait their turn in the event loop.
        anyio.to_thread.current_default_thread_limiter().total_tokens = HANDLER_THREADS
        source.start()
        yield
        source.close()

    routes = Routes([Route("/api/openapi.json", OpenApi().serve, include_in_schema=False)])
    _api(routes, source, store, bundle)
    _static(routes, assets)
    app = Starlette(routes=routes, exception_handlers=ERRORS, lifespan=lifespan)
    app.router.redirect_slashes = False
    if source.kind == "postgres":  # a FileStore's answers are in-process: nothing to cancel
        app.add_middleware(WatchDisconnect, prefix="/api/experiments")
    if token:
        app.add_middleware(TokenGuard, token=token)
    app.add_middleware(QueryStringCap)
    app.add_middleware(HeaderCap)
    return app


class QueryStringCap:
    """Answer 414 to a query string over `MAX_QUERY_STRING` bytes before any work is done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope.get("query_string", b"")) > MAX_QUERY_STRING:
            response = StrictJSON(
                {"error": f"query string longer than {MAX_QUERY_STRING} bytes"}, status_code=414
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _bad_query(_r: Request, exc: Exception) -> Response:
    return StrictJSON({"error": str(exc)}, status_code=400)


async def _not_found(_r: Request, exc: Exception) -> Response:
    return StrictJSON({"error": str(exc)}, status_code=404)


async def _store_down(_r: Request, exc: Exception) -> Response:
    return StrictJSON({"error": f"store unavailable: {exc}"}, status_code=503)


async def _http_error(_r: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (not GET): ``{"detail": …}``."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 205, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


ERRORS = {
    QueryError: _bad_query,
    NotFound: _not_found,
    StoreError: _store_down,
    HTTPException: _http_error,
}


def _api(routes: Routes, source: RunSource, store: str, bundle: Path | None) -> None:
    queue, accounting = slurm.Queue(), slurm.Accounting()

    def ref(experiment_id: str) -> str:
        """A checked experiment id as the store knows it (upstream's ``name:version`` too)."""
        return source.resolve(check_experiment_id(experiment_id))

    @routes.get("/api/health", "service")
    def health() -> dict[str, Any]:
        """Which store Atlas serves (redacted) and whether it can read it."""
        readable, detail = source.check()
        body: dict[str, Any] = {
            "status": "ok",
            "store": shown_locator(store),
            "store_kind": source.kind,
            "store_readable": readable,
        }
        if detail:
            body["detail"] = detail
        return body

    @routes.get("/api/about", "service")
    def about_store() -> dict[str, Any]:
        """What the header shows: project, environment, store kind and the redacted locator."""
        return about(store, source.kind, bundle)

    @routes.get("/api/services", "service")
    def services() -> dict[str, Any]:
        """The service bundle Atlas was started from, secrets redacted."""
        return bundle_view(bundle)

    @routes.get("/api/experiments", "experiments")
    def experiments() -> dict[str, Any]:
        """Every experiment with run counts by status, progress and last activity."""
        return {"experiments": source.experiments()}

    @routes.get("/api/stores", "experiments")
    def stores() -> dict[str, Any]:
        """The stores served: the root's own and, for a directory of stores, each one nested
        up to two levels under it (``key`` prefixes its experiment ids as ``KEY::ID``)."""
        listing = source.listing() if isinstance(source, MultiSource | RemoteSource) else None
        if listing is not None:
            return listing
        found = source.experiments()
        runs = sum(int(e.get("runs") or 0) for e in found)
        root = {"key": "", "path": ".", "experiments": len(found), "runs": runs}
        return {"stores": [root], "truncated": False, "limits": multistore.LIMITS}

    @routes.get("/api/search", "experiments")
    def search_store(q: str = "", limit: int = search.DEFAULT_RESULTS) -> dict[str, Any]:
        """Experiments whose id, name, operation or tags contain ``q`` (any case), and runs
        whose id, status, host, error or params contain it, in the 50 most recently active
        experiments; at most ``limit`` (≤ 50) of each."""
        check_request_text([], q)
        return search.search(source, q, limit)

    @routes.get("/api/experiments/{experiment_id}", "experiments")
    def experiment(experiment_id: str) -> dict[str, Any]:
        """One experiment: its spec, counts and the fields its runs have."""
        experiment_id = ref(experiment_id)
        found = source.experiment(experiment_id)
        return {**found, "fields": source.fields(experiment_id).to_json()}

    @routes.get("/api/experiments/{experiment_id}/runs", "runs")
    def runs(
        experiment_id: str,
        where: list[str] = [],  # noqa: B006 - a fresh copy per request (params.bind)
        status: str = "",
        q: str = "",
        sort: str = "",
        order: str = "asc",
        offset: int = 0,
        limit: int = 50,
    ) -> dict[str, Any]:
        """A page of runs: filtered (``where``, ``status``, ``q``), sorted, paginated."""
        experiment_id = ref(experiment_id)
        check_request_text(where, status, q, sort)
        fields = source.fields(experiment_id, [sort, *_names(where)])
        query = parse_query(
            fields,
            where=where,
            status=status,
            q=q,
            sort=sort,
            order=order,
            offset=offset,
            limit=limit,
        )
        total, rows = source.runs(experiment_id, query)
        return {"total": total, "offset": offset, "limit": limit, "runs": [marked(r) for r in rows]}

    @routes.get("/api/experiments/{experiment_id}/plot", "runs")
    def plot(
        experiment_id: str,
        x: str,
        y: str,
        group: str = "",
        facet: str = "",
        where: list[str] = [],  # noqa: B006 - a fresh copy per request (params.bind)
        status: str = "",
        q: str = "",
    ) -> dict[str, Any]:
        """Mean, standard deviation and count of metric ``y`` per ``x`` (and ``group``);
        with ``facet``, the same per value of that field (at most 12) in ``facets``."""
        experiment_id = ref(experiment_id)
        check_request_text(where, status, q, x, y, group, facet)
        fields = source.fields(experiment_id, [x, y, group, facet, *_names(where)])
        query = parse_query(fields, where=where, status=status, q=q)
        xf, yf = fields.resolve(x), fields.resolve(y)
        gf = fields.resolve(group) if group else None
        if not facet:
            return {"series": source.plot(experiment_id, query, xf, yf, gf), "facet": None}
        ff = fields.resolve(facet)
        shown, total = facets.chosen(g for g, _ in source.values(experiment_id, query, yf, ff)[1])
        panels = [
            {
                "facet": t,
                "series": source.plot(experiment_id, facets.narrowed(query, ff, t), xf, yf, gf),
            }
            for t in shown
        ]
        return {"series": [], "facet": ff.name, "facets": panels, "facets_total": total}

    @routes.get("/api/experiments/{experiment_id}/histogram", "runs")
    def distribution(
        experiment_id: str,
        field: str,
        group: str = "",
        facet: str = "",
        bins: int = histogram.DEFAULT_BINS,
        where: list[str] = [],  # noqa: B006 - a fresh copy per request (params.bind)
        status: str = "",
        q: str = "",
    ) -> dict[str, Any]:
        """A histogram of the numeric ``field`` over the matching runs (``bins`` equal-width
        bins, at most 200, shared by every group) and each group's distribution: n, mean,
        sample std, min, quartiles, median, max. ``group``: at most 12 values. With
        ``facet``, one such answer per value of that field (at most 12) in ``facets``, all
        over the same bins."""
        experiment_id = ref(experiment_id)
        check_request_text(where, status, q, field, group, facet)
        curves.bounded(bins, 1, histogram.MAX_BINS, "bins")
        fields = source.fields(experiment_id, [field, group, facet, *_names(where)])
        query = parse_query(fields, where=where, status=status, q=q)
        f = histogram.check_field(fields.resolve(field))
        gf = fields.resolve(group) if group else None
        head = {"field": f.name, "group": gf.name if gf else None, "bins": bins}

        def answer(query: RunQuery, span: tuple[float, float] | None) -> dict[str, Any]:
            matched, pairs = source.values(experiment_id, query, f, gf)
            body = histogram.build(pairs, bins, span)
            return {"matched": matched, "missing": matched - body["total"], **body}

        if not facet:
            return {**head, "facet": None, **answer(query, None)}
        ff = fields.resolve(facet)
        matched, pairs = source.values(experiment_id, query, f, ff)
        shown, total = facets.chosen(g for g, _ in pairs)
        kept = [v for g, v in pairs if g in set(shown)]
        span = (min(kept), max(kept)) if kept else None
        panels = [{"facet": t, **answer(facets.narrowed(query, ff, t), span)} for t in shown]
        return {
            **head,
            "facet": ff.name,
            "matched": matched,
            "edges": histogram.edges(*span, bins) if span else [],
            "facets": panels,
            "facets_total": total,
        }

    @routes.get("/api/experiments/{experiment_id}/curves", "runs")
    def learning_curves(
        experiment_id: str,
        metric: str = "",
        group: str = "",
        facet: str = "",
        where: list[str] = [],  # noqa: B006 - a fresh copy per request (params.bind)
        status: str = "",
        q: str = "",
        runs: int = curves.DEFAULT_RUNS,
        points: int = curves.DEFAULT_POINTS,
    ) -> dict[str, Any]:
        """One stepped metric by step for the first ``runs`` matching runs (at most
        1000, in run_id order): each run's curve (at most ``points`` points, at most 2000)
        and, per value of ``group``, the mean, standard deviation, min, max and count of
        its runs at each step. ``metric`` defaults to the first stepped metric found (one
        named like a loss first). With ``facet``, the selected runs split by that field's
        value (at most 12 values), one such answer each in ``facets``."""
        experiment_id = ref(experiment_id)
        curves.bounded(runs, 1, curves.MAX_RUNS, "runs")
        curves.bounded(points, 2, curves.MAX_POINTS, "points")
        if metric:
            curves.check_metric(metric)
        check_request_text(where, status, q, group, facet)
        fields = source.fields(experiment_id, [group, facet, *_names(where)])
        query = parse_query(fields, where=where, status=status, q=q)
        gf = fields.resolve(group) if group else None
        ff = fields.resolve(facet) if facet else None
        total, rows = _gather(source, experiment_id, query, runs)
        sample = [r["run_id"] for r in rows[: curves.NAME_SAMPLE]]
        names = source.step_names(experiment_id, sample) if sample else []
        chosen = metric or curves.default_metric(names)

        def answer(rows: list[dict[str, Any]]) -> dict[str, Any]:
            if not chosen:
                return {"runs": [], "groups": []}
            return curves.build(
                rows, gf, lambda ids: source.step_curves(experiment_id, ids, chosen), points
            )

        body: dict[str, Any] = {"facet": None}
        if ff is None:
            body.update(answer(rows))
        else:
            shown, count = facets.chosen(facets.row_text(r, ff) for r in rows)
            split = {t: [r for r in rows if facets.row_text(r, ff) == t] for t in shown}
            panels = [{"facet": t, **answer(split[t])} for t in shown]
            body = {"facet": ff.name, "runs": [], "groups": [], "facets": panels}
            body["facets_total"] = count
        return {
            "metric": chosen or None,
            "metrics": names,
            "group": gf.name if gf else None,
            "matched": total,
            "selected": len(rows),
            "truncated": total > len(rows),
            "limits": {"runs": curves.MAX_RUNS, "points": curves.MAX_POINTS},
            **body,
        }

    @routes.get("/api/experiments/{experiment_id}/export", "runs")
    def export_runs(
        experiment_id: str,
        format: str = "csv",  # noqa: A002 - the query parameter's name
        where: list[str] = [],  # noqa: B006 - a fresh copy per request (params.bind)
        status: str = "",
        q: str = "",
        sort: str = "",
        order: str = "asc",
        limit: int = export.DEFAULT_ROWS,
    ) -> Response:
        """The runs table (filtered and sorted as ``/runs``) as CSV, JSON or Parquet (when
        pyarrow is installed); at most ``limit`` rows (up to 100,000);
        ``X-Export-Truncated: true`` when more matched."""
        experiment_id = ref(experiment_id)
        fmt = export.check_format(format)
        curves.bounded(limit, 1, export.MAX_ROWS, "limit")
        fields = source.fields(experiment_id, [sort, *_names(where)])
        query = parse_query(fields, where=where, status=status, q=q, sort=sort, order=order)
        total, rows = _gather(source, experiment_id, query, limit)
        name = f"{experiment_id.replace(':', '_')}-runs.{fmt}"
        headers = {
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Export-Rows": str(len(rows)),
            "X-Export-Truncated": "true" if total > len(rows) else "false",
            "X-Content-Type-Options": "nosniff",
        }
        return Response(export.render(rows, fmt), media_type=export.FORMATS[fmt], headers=headers)

    @routes.get("/api/experiments/{experiment_id}/compare", "runs")
    def compare_runs(
        experiment_id: str,
        run: list[str] = [],  # noqa: B006 - a fresh copy per request (params.bind)
        baseline: str = "",
    ) -> dict[str, Any]:
        """Runs side by side: the keys whose values differ and, for numbers, each run's
        difference from the ``baseline`` run (one of ``run``; default the first)."""
        experiment_id = ref(experiment_id)
        if not 1 <= len(run) <= MAX_COMPARE:
            raise QueryError(f"compare 1 to {MAX_COMPARE} runs")
        if baseline and baseline not in run:
            raise QueryError("the baseline must be one of the compared runs")
        records = [marked(source.run(experiment_id, check_run_id(r))) for r in run]
        base = run.index(baseline) if baseline else 0
        return {
            "runs": records,
            "baseline": records[base]["run_id"],
            "differs": compare.differences(records),
            "deltas": compare.deltas(records, base),
        }

    def submission(experiment_id: str) -> dict[str, Any] | None:
        if not source.files.is_upstream(experiment_id):
            return None
        return slurm.manifest(source.files.upstream_base(experiment_id))

    @routes.get("/api/experiments/{experiment_id}/slurm", "experiments")
    def slurm_status(experiment_id: str) -> dict[str, Any]:
        """The SLURM jobs that ran the experiment (as its runs or its SLURM submission
        manifest record them, the manifest first: it also names the tasks not yet started)
        and how many of their array tasks ``squeue`` lists in each state; ``slurm: false``
        when none is recorded."""
        experiment_id = ref(experiment_id)
        found = submission(experiment_id)
        if found is not None:
            jobs, recorded = found["job_ids"], "manifest"
            extra = {"submitted_at": found.get("submitted_at"), "runs": found.get("total_runs")}
        else:
            jobs, recorded, extra = source.slurm_jobs(experiment_id), "records", {}
        states = queue.states() if jobs else None
        return slurm.experiment_status(jobs, recorded, states, extra, accounting)

    @routes.get("/api/experiments/{experiment_id}/runs/{run_id}", "runs")
    def run_detail(experiment_id: str, run_id: str) -> dict[str, Any]:
        """A run's record (with traceback), its artifacts, the sizes of its logs (stdout
        and stderr, or the named logs of an upstream-layout run) and, for a run recorded on
        SLURM, its job (array task) and the state ``squeue`` gives it."""
        experiment_id = ref(experiment_id)
        record = source.run(experiment_id, check_run_id(run_id))
        executor = record.get("executor")
        job = executor.get("slurm_job") if isinstance(executor, dict) else None
        if not job and (found := submission(experiment_id)) is not None:
            job = slurm.manifest_task(found, run_id)
        return {
            "slurm": slurm.run_status(job, queue.states(), accounting) if job else None,
            "run": marked(record),
            "artifacts": source.files.artifacts(experiment_id, run_id),
            "log_sizes": source.files.logs(experiment_id, run_id),
        }

    @routes.get("/api/experiments/{experiment_id}/runs/{run_id}/steps", "runs")
    def steps(experiment_id: str, run_id: str) -> dict[str, Any]:
        """Step-wise metrics: ``{name: [[step, value], …]}``."""
        experiment_id = ref(experiment_id)
        check_run_id(run_id)
        return {"steps": source.steps(experiment_id, run_id)}

    @routes.get("/api/experiments/{experiment_id}/runs/{run_id}/arrays", "runs")
    def run_arrays(experiment_id: str, run_id: str) -> dict[str, Any]:
        """The run's arrays: ``capture.data`` entries holding 1-D or 2-D numbers and NumPy
        artifacts (``.npy``; ``.npz``, one entry per key), with shape and dtype."""
        from metalab_atlas import arrays  # not needed at start-up (ast, the array readers)

        experiment_id = ref(experiment_id)
        source.run(experiment_id, check_run_id(run_id))
        return {"arrays": arrays.listing(source.files, experiment_id, run_id)}

    @routes.get("/api/experiments/{experiment_id}/runs/{run_id}/array", "runs")
    def run_array(
        experiment_id: str, run_id: str, result: str = "", artifact: str = "", key: str = ""
    ) -> dict[str, Any]:
        """One array to draw: 1-D as ``kind: line`` (``index``, ``values``; at most 2000
        block means), 2-D as ``kind: heatmap`` (``rows``, ``cols``, ``values``; at most
        200 × 200 block means); ``shape`` is the array's own, ``downsampled`` says whether
        it was reduced. ``result=NAME`` or ``artifact=PATH[&key=K]``."""
        from metalab_atlas import arrays

        experiment_id = ref(experiment_id)
        check_request_text([], result, artifact, key)
        source.run(experiment_id, check_run_id(run_id))
        return arrays.read(
            source.files, experiment_id, run_id, result=result, artifact=artifact, key=key
        )

    @routes.get(
        "/api/experiments/{experiment_id}/runs/{run_id}/logs/{stream}", "runs", "text/plain"
    )
    def log(experiment_id: str, run_id: str, stream: str) -> Response:
        """The tail of a run's stdout or stderr (an upstream-layout run: a named log)."""
        experiment_id = ref(experiment_id)
        text, size = source.files.log(experiment_id, run_id, stream)
        return PlainTextResponse(text, headers={"X-Log-Size": str(size)})

    @routes.get(
        "/api/experiments/{experiment_id}/runs/{run_id}/artifacts/{path:path}",
        "runs",
        "application/octet-stream",
    )
    def artifact(experiment_id: str, run_id: str, path: str, download: bool = False) -> Response:
        """An artifact file; ``download=true`` asks the browser to save it."""
        experiment_id = ref(experiment_id)
        fd = source.files.open_artifact(experiment_id, run_id, path)
        name = path.rsplit("/", 1)[-1]
        kind = content_type(name)
        inline = not download and kind in INLINE_TYPES
        disposition = "inline" if inline else "attachment"
        headers = {
            "Content-Security-Policy": ARTIFACT_CSP,
            "X-Content-Type-Options": "nosniff",
            "Content-Length": str(os.fstat(fd).st_size),
            "Content-Disposition": f"{disposition}; filename*=utf-8''{quote(name)}",
        }
        return StreamingResponse(
            _chunks(fd), media_type=kind if inline else "application/octet-stream", headers=headers
        )


def _chunks(fd: int, size: int = 1 << 16) -> Iterator[bytes]:
    """The file behind ``fd`` (opened and checked by `RunFiles`), closed when done."""
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def _gather(
    source: RunSource, experiment_id: str, query: RunQuery, most: int
) -> tuple[int, list[dict[str, Any]]]:
    """(matching runs, the first ``most`` of them), read page by page."""
    rows: list[dict[str, Any]] = []
    total = 0
    while len(rows) < most:
        page = RunQuery(
            filters=query.filters,
            statuses=query.statuses,
            search=query.search,
            sort=query.sort,
            descending=query.descending,
            offset=len(rows),
            limit=min(MAX_LIMIT, most - len(rows)),
        )
        total, found = source.runs(experiment_id, page)
        rows.extend(found)
        if len(found) < page.limit:
            break
    return total, rows


def _names(where: list[str]) -> list[str]:
    return [w.partition(":")[0] for w in where]


def _static(routes: Routes, assets: Assets) -> None:
    @routes.get("/", schema=False)
    def index() -> Response:
        found = assets.response("index.html")
        if found is None:
            raise NotFound("the UI is not installed")
        return found

    @routes.get("/static/{name:path}", schema=False)
    def static(name: str) -> Response:
        found = assets.response(name)
        if found is None:
            raise NotFound("no such file")
        return found
