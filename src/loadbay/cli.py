"""The command line: ``serve`` runs the service; the client commands talk to one.

Client commands take ``--url``/``--token`` or ``LOADBAY_URL``/``LOADBAY_TOKEN``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    help="loadbay: bulk data in and out, safely and in the background.", no_args_is_help=True
)
jobs_app = typer.Typer(help="List and inspect jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
console = Console()
errors = Console(stderr=True)

UrlOption = Annotated[
    str, typer.Option("--url", envvar="LOADBAY_URL", help="Base URL of the service")
]
TokenOption = Annotated[str, typer.Option("--token", envvar="LOADBAY_TOKEN", help="Bearer token")]
_ENDED = {"completed", "failed", "quarantined", "cancelled"}


@app.command()
def serve(
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
) -> None:
    """Run the API and, with the in-process executor, the workers, in one process."""
    import uvicorn

    from loadbay.api.app import create_app
    from loadbay.bootstrap import build_services, tune_garbage_collector
    from loadbay.config import load_settings
    from loadbay.observability import configure_logging

    settings = load_settings(config, server__host=host, server__port=port)
    configure_logging(settings.logging.format, settings.logging.level)
    services = build_services(settings)
    if services.generated_token is not None:
        state = "created" if services.generated_token_is_new else "kept"
        console.print(
            f"[bold]No tokens configured:[/] admin token ({state} in "
            f"{settings.data_dir / 'admin_token'}):\n  {services.generated_token.token}"
        )
    if not services.scanning:
        console.print(
            "[bold red]WARNING: uploads are NOT scanned for malware[/] "
            + escape('([scanner] backend = "none"). Configure clamd before accepting files ')
            + "from the public; see the README."
        )
    console.print(f"loadbay listening on {settings.public_url} (data in {settings.data_dir})")
    app = create_app(services)
    tune_garbage_collector()
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,  # uvicorn's loggers go through configure_logging's handler
        timeout_graceful_shutdown=30,
    )


def _client(url: str, token: str) -> httpx.Client:
    if not token:
        errors.print("No token: pass --token or set LOADBAY_TOKEN")
        raise typer.Exit(2)
    return httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _check(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        error = response.json()["error"]
        errors.print(
            f"[red]{response.status_code} {escape(error['code'])}[/]: {escape(error['message'])}"
        )
    except (ValueError, KeyError, TypeError):
        errors.print(f"[red]{response.status_code}[/]: {escape(response.text[:500])}")
    raise typer.Exit(1)


def _show_job(job: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for key in (
        "id",
        "kind",
        "dataset",
        "status",
        "owner",
        "tenant",
        "file_name",
        "file_size",
        "created_at",
        "started_at",
        "finished_at",
        "result_available",
    ):
        table.add_row(key, escape(str(job.get(key))))  # values are user data, not markup
    progress = job["progress"]
    table.add_row(
        "progress", f"{progress['processed']}/{progress['total']} ({progress['percent']}%)"
    )
    table.add_row(
        "counts", f"{job['counts']['success']} success, {job['counts']['failure']} failure"
    )
    if job.get("scan"):
        scan = job["scan"]
        table.add_row("scan", escape(f"{scan['verdict']} {scan.get('signature') or ''}".strip()))
    if job.get("error"):
        table.add_row("error", escape(f"{job['error']['code']}: {job['error']['message']}"))
    console.print(table)


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    dataset: Annotated[str, typer.Option(help="Dataset to import into")],
    wait: Annotated[
        bool, typer.Option(help="Wait for the job to end, with a progress bar")
    ] = False,
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = "",
) -> None:
    """Upload FILE and start importing it into DATASET."""
    with _client(url, token) as client, file.open("rb") as handle:
        job = _check(
            client.post(
                "/api/v1/imports",
                data={"dataset": dataset},
                files={"file": (file.name, handle, "text/csv")},
            )
        )
        console.print(f"job {job['id']} {job['status']}")
        if not wait:
            return
        job = _wait(client, job["id"])
    _show_job(job)
    if job["status"] != "completed":
        raise typer.Exit(1)


def _wait(client: httpx.Client, job_id: str) -> dict[str, Any]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("received", total=100, rows="")
        while True:
            job: dict[str, Any] = _check(client.get(f"/api/v1/jobs/{job_id}"))
            progress = job["progress"]
            bar.update(
                task,
                completed=progress["percent"],
                description=job["status"],
                rows=f"{progress['processed']}/{progress['total']}",
            )
            if job["status"] in _ENDED:
                return job
            time.sleep(0.5)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only jobs in this status")] = None,
    dataset: Annotated[str | None, typer.Option(help="Only jobs of this dataset")] = None,
    limit: Annotated[int, typer.Option(help="At most this many jobs")] = 50,
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = "",
) -> None:
    """Your jobs, newest first."""
    params: dict[str, str | int] = {"limit": limit}
    if status:
        params["status"] = status
    if dataset:
        params["dataset"] = dataset
    with _client(url, token) as client:
        page = _check(client.get("/api/v1/jobs", params=params))
    table = Table("id", "kind", "dataset", "status", "progress", "success", "failure", "created")
    for job in page["items"]:
        table.add_row(
            job["id"],
            job["kind"],
            job["dataset"] or "",
            job["status"],
            f"{job['progress']['percent']}%",
            str(job["counts"]["success"]),
            str(job["counts"]["failure"]),
            job["created_at"],
        )
    console.print(table)


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="The job's id")],
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = "",
) -> None:
    """One job in detail."""
    with _client(url, token) as client:
        _show_job(_check(client.get(f"/api/v1/jobs/{job_id}")))


@app.command()
def result(
    job_id: Annotated[str, typer.Argument(help="The job's id")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to save")] = None,
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = "",
) -> None:
    """Download a completed job's result report."""
    with _client(url, token) as client:
        link = _check(client.get(f"/api/v1/jobs/{job_id}/result-link"))
        target = output or Path(link["file_name"])
        with httpx.stream("GET", link["url"], timeout=60) as response:
            if not response.is_success:
                response.read()
                _check(response)
            with target.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
    console.print(f"saved {target}")


@app.command()
def worker(
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once")] = None,
) -> None:
    """Run jobs queued by `serve` (executor.backend = celery)."""
    from loadbay.bootstrap import build_services, tune_garbage_collector
    from loadbay.config import load_settings
    from loadbay.executors.celery import run_worker
    from loadbay.observability import configure_logging

    settings = load_settings(config)
    configure_logging(settings.logging.format, settings.logging.level)
    if settings.executor.backend != "celery" or not settings.executor.broker_url:
        errors.print("loadbay worker needs executor.backend = celery and executor.broker_url")
        raise typer.Exit(2)
    services = build_services(settings)
    if settings.metrics.worker_port:
        from prometheus_client import start_http_server

        start_http_server(
            settings.metrics.worker_port,
            settings.metrics.worker_host,
            registry=services.metrics.process_registry,
        )
    services.start()
    tune_garbage_collector()
    try:
        run_worker(
            settings.executor.broker_url,
            settings.executor.queue,
            services.runner.run,
            concurrency or settings.executor.concurrency,
            settings.executor.broker_options,
            settings.executor.lease_seconds,
        )
    finally:
        services.stop()


@app.command("events")
def consume_events(
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
) -> None:
    """Start imports from S3 event notifications read off the configured SQS queue."""
    from loadbay.config import load_settings
    from loadbay.events_consumer import run_consumer
    from loadbay.observability import configure_logging

    settings = load_settings(config)
    configure_logging(settings.logging.format, settings.logging.level)
    if not settings.events.sqs_queue_url:
        console.print("events.sqs_queue_url is not set: no queue to consume", style="bold red")
        raise typer.Exit(2)
    run_consumer(settings)


def main() -> None:
    app()
