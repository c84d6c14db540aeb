"""The ``modelyard`` command: a client of a running manager's REST API (and ``serve``).

Every command takes ``--url`` (``MODELYARD_URL``, default http://127.0.0.1:8000), ``--token``
(``MODEL_MANAGER_API_TOKEN``) and ``--json``. Exit codes: 0 ok, 1 failure, 2 usage,
3 manager unreachable, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from rich.markup import escape

from modelyard import chat, doctor, pull, views
from modelyard.client import (
    DEFAULT_URL,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    TOKEN_ENV,
    URL_ENV,
    CliError,
    ManagerClient,
    model_path,
)
from modelyard.output import emit_json, human_bytes, print_error, stderr, stdout

app = typer.Typer(
    name="modelyard",
    help="Find, download and run local LLMs on MLX. Talks to a running manager "
    "(start one with `modelyard serve`).\n\nExit codes: 0 ok, 1 failure, 2 usage error, "
    "3 manager unreachable, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Url = Annotated[
    str,
    typer.Option("--url", envvar=URL_ENV, help="The manager's address."),
]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar=TOKEN_ENV, help="The manager's API token.", show_default=False),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
Model = Annotated[str, typer.Argument(help="Model id: org/name, or local/<name>.")]

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn ``CliError`` into its message and exit code, Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            print_error(exc, as_json=bool(kwargs.get("as_json")))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            stderr().print("Interrupted.")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def connect(url: str, token: str | None) -> ManagerClient:
    return ManagerClient(url or DEFAULT_URL, token or None)


# ---- discover -------------------------------------------------------------------------------


@app.command()
@reports_errors
def search(
    query: Annotated[str, typer.Argument(help="Text in the model id.")],
    format: Annotated[
        Literal["mlx", "gguf"] | None, typer.Option("--format", help="Only this format.")
    ] = None,
    sort: Annotated[
        Literal["downloads", "likes", "trending"], typer.Option("--sort", help="Order.")
    ] = "downloads",
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 10,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Search the Hub: badges and whether each model runs here."""
    with connect(url, token) as client:
        params: dict[str, Any] = {"q": query, "sort": sort, "limit": limit, "configs": True}
        if format:
            params["library"] = format
        page = client.get("/api/hub/search", params=params, timeout=60.0)
        results = page.get("results", [])
        verdicts = _verdicts(client, [r["id"] for r in results])
    if as_json:
        for result in results:
            result["compatibility"] = verdicts.get(result["id"])
        emit_json(page)
        return
    if not results:
        stdout().print(f"No model on the Hub matches {escape(query)!r}.")
        return
    labels = {k: (v or {}).get("label") for k, v in verdicts.items()}
    stdout().print(views.search_table(results, labels))
    if page.get("stale"):
        stderr().print("(the Hub could not be reached: these results are from the cache)")


def _verdicts(client: ManagerClient, ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """The compatibility report of each model, asked in parallel (None where it failed)."""

    def one(model_id: str) -> dict[str, Any] | None:
        try:
            report: dict[str, Any] = client.get(
                f"/api/models/compatibility/{model_path(model_id)}", timeout=60.0
            )
            return report
        except CliError:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(ids, pool.map(one, ids), strict=True))


@app.command()
@reports_errors
def info(model: Model, url: Url = DEFAULT_URL, token: Token = None, as_json: Json = False) -> None:
    """A model's characteristics, files, variants and verdict (local copy or Hub)."""
    with connect(url, token) as client:
        path = model_path(model)
        local = client.get(f"/api/models/local/{path}", allow_404=True)
        hub = None
        variants = None
        if not model.startswith("local/"):
            try:
                hub = client.get(f"/api/hub/models/{path}", timeout=60.0)
                variants = client.get(f"/api/hub/models/{path}/variants", timeout=60.0)
            except CliError:
                if local is None:
                    raise
        if local is None and hub is None:
            raise CliError(f"{model} is not in the library", code="not_found")
        compatibility = client.get(f"/api/models/compatibility/{path}", timeout=60.0)
    result = {
        "model_id": model,
        "local": local,
        "hub": hub,
        "variants": variants,
        "compatibility": compatibility,
    }
    if as_json:
        emit_json(result)
    else:
        stdout().print(views.info_view(result))


# ---- downloads ------------------------------------------------------------------------------


@app.command("pull")
@reports_errors
def pull_command(
    model: Annotated[str, typer.Argument(help="Hub model id (org/name).")],
    revision: Annotated[str, typer.Option("--revision", help="Branch, tag or commit.")] = "main",
    include: Annotated[
        list[str] | None,
        typer.Option("--include", help="Only files matching this glob (repeatable)."),
    ] = None,
    pause_on_exit: Annotated[
        bool,
        typer.Option("--pause-on-exit", help="Ctrl-C pauses the download instead of detaching."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Download even when the verdict says it will not run here."),
    ] = False,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Download a model with progress bars (re-attaches to a download in progress).

    Ctrl-C detaches: the download goes on in the manager."""
    request = pull.PullRequest(model, revision, tuple(include or ()), pause_on_exit, force)
    with connect(url, token) as client:
        code = pull.run_pull(client, request, as_json=as_json, console=stdout())
    raise typer.Exit(code)


# ---- library --------------------------------------------------------------------------------


@app.command("ls")
@reports_errors
def list_models(url: Url = DEFAULT_URL, token: Token = None, as_json: Json = False) -> None:
    """The models on disk: size, format, badges, verdict, loaded or not."""
    with connect(url, token) as client:
        listing = client.get("/api/models/local", timeout=60.0)
    if as_json:
        emit_json(listing)
        return
    models = listing.get("data", [])
    if not models:
        stdout().print("No model on disk yet. Try `modelyard search QUERY` and `modelyard pull`.")
        return
    stdout().print(views.library_table(models))
    total = sum(m.get("size_bytes", 0) for m in models)
    stdout().print(f"[dim]{len(models)} models, {human_bytes(total)}[/]")


@app.command()
@reports_errors
def rm(
    model: Model,
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask.")] = False,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Delete a model from disk (unloads it first); shows what will be freed."""
    with connect(url, token) as client:
        path = model_path(model)
        local = client.get(f"/api/models/local/{path}")
        if not as_json:
            revisions = len(local.get("revisions") or []) or 1
            stdout().print(
                f"{escape(local['id'])}: {human_bytes(local.get('size_bytes'))} on disk "
                f"({revisions} revision{'s' if revisions != 1 else ''}, {escape(local['path'])})"
            )
        if not yes:
            if not sys.stdin.isatty():
                raise CliError(
                    "not deleting without a confirmation",
                    steps=[f"Run `modelyard rm {model} -y` to delete without asking."],
                )
            if not typer.confirm("Delete it?", default=False):
                stdout().print("Nothing deleted.")
                raise typer.Exit(EXIT_FAILURE)
        result = client.delete(f"/api/models/local/{path}", timeout=120.0)
    if as_json:
        emit_json(result)
        return
    stdout().print(f"Deleted {escape(result['id'])}: freed {human_bytes(result['freed_bytes'])}")


@app.command("import")
@reports_errors
def import_model(
    path: Annotated[Path, typer.Argument(help="A model folder or a .gguf file.")],
    name: Annotated[str | None, typer.Option("--name", help="Registered as local/NAME.")] = None,
    copy: Annotated[
        bool, typer.Option("--copy", help="Copy the files (default: hard links).")
    ] = False,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Register a local folder or .gguf file as local/<name>."""
    body: dict[str, Any] = {
        "path": str(path.expanduser().absolute()),
        "mode": "copy" if copy else "link",
    }
    if name:
        body["name"] = name
    with connect(url, token) as client:
        model = client.post("/api/models/import", body, timeout=600.0)
    if as_json:
        emit_json(model)
        return
    stdout().print(
        f"Imported {escape(model['id'])} ({human_bytes(model.get('size_bytes'))}, "
        f"{model.get('format')})"
    )


# ---- the pool -------------------------------------------------------------------------------


@app.command()
@reports_errors
def ps(url: Url = DEFAULT_URL, token: Token = None, as_json: Json = False) -> None:
    """The models loaded in the inference server: state, memory, pinned, requests, idle time."""
    with connect(url, token) as client:
        pool_status = client.get("/api/inference/pool")
        types: dict[str, str] | None = None
        if pool_status.get("slots") and not as_json:
            with contextlib.suppress(CliError):  # the types are a nicety beside the pool
                catalog = client.get("/v1/models")
                types = {m["id"]: m.get("type", "chat") for m in catalog.get("data", [])}
    if as_json:
        emit_json(pool_status)
        return
    if not pool_status.get("slots"):
        stdout().print("No model is loaded.")
    stdout().print(views.pool_table(pool_status, types=types))


@app.command()
@reports_errors
def load(
    model: Model,
    pin: Annotated[bool, typer.Option("--pin", help="Never evict it.")] = False,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Load a model into the inference server's pool."""
    with connect(url, token) as client:
        result = client.post(
            f"/api/inference/models/{model_path(model)}/load", {"pin": pin}, timeout=600.0
        )
    if as_json:
        emit_json(result)
    else:
        stdout().print(escape(views.loaded_line(result)))


@app.command()
@reports_errors
def unload(
    model: Model, url: Url = DEFAULT_URL, token: Token = None, as_json: Json = False
) -> None:
    """Unload a model from the inference server's pool."""
    with connect(url, token) as client:
        result = client.post(f"/api/inference/models/{model_path(model)}/unload", timeout=120.0)
    if as_json:
        emit_json(result)
    elif result.get("unloaded"):
        stdout().print(f"Unloaded {escape(model)}")
    else:
        stdout().print(f"{escape(model)} was not loaded")


# ---- chat -----------------------------------------------------------------------------------


@app.command()
@reports_errors
def run(
    model: Model,
    prompt: Annotated[
        str | None, typer.Argument(help="Answer this and exit (default: a chat).")
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="A system prompt.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0, max=2)] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Chat with a model, or answer PROMPT (or stdin, when it is not a terminal) and exit.

    In a chat: /bye leaves, /clear forgets. Ctrl-C stops an answer (generation is cancelled
    on the server), not the chat."""
    sampling = chat.Sampling(max_tokens, temperature, system)
    piped = None if sys.stdin.isatty() else sys.stdin.read()
    with connect(url, token) as client:
        if prompt is None and piped is not None and not piped.strip():
            raise CliError(
                "nothing to answer: stdin was empty",
                steps=["Give the prompt as an argument, or run it in a terminal to chat."],
                exit_code=EXIT_USAGE,
            )
        if prompt is None and piped is None:
            if as_json:
                raise CliError("--json needs a prompt (an argument or stdin)", exit_code=EXIT_USAGE)
            with _line_editing():
                chat.interactive(client, model, sampling)
            return
        text = "\n\n".join(part for part in ((piped or "").rstrip("\n"), prompt) if part)
        try:
            answer = chat.one_shot(client, model, text, sampling, as_json=as_json)
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        emit_json(
            {
                "model": model,
                "content": answer.text,
                "finish_reason": answer.finish_reason,
                "usage": answer.usage,
            }
        )


def _line_editing() -> contextlib.AbstractContextManager[None]:
    """readline's editing and history for ``input()``, where it exists."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401
    return contextlib.nullcontext()


# ---- operations -----------------------------------------------------------------------------


@app.command("doctor")
@reports_errors
def doctor_command(url: Url = DEFAULT_URL, token: Token = None, as_json: Json = False) -> None:
    """Check both processes, their folders, disk, BLAS, Hub and token; say how to fix each."""
    with connect(url, token) as client:
        facts = doctor.gather(client)
    checks = doctor.evaluate(facts)
    ok = doctor.passed(checks)
    code = EXIT_OK if ok else EXIT_FAILURE
    if facts.manager_error is not None:
        code = facts.manager_error.exit_code
    if as_json:
        emit_json({"ok": ok, "checks": [c.as_dict() for c in checks]})
        raise typer.Exit(code)
    console = stdout()
    for check in checks:
        mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]-[/]"}[check.ok]
        console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}")
        for step in check.fix:
            console.print(f"    [yellow]→[/] {escape(step)}")
    console.print("All checks passed." if ok else "[red]Some checks failed.[/]")
    raise typer.Exit(code)


@app.command("serve")
def serve_command(
    env_file: Annotated[
        Path,
        typer.Option("--env-file", help="Settings file read for what the environment lacks."),
    ] = Path(".env"),
) -> None:
    """Run the manager and the inference server in the foreground (Ctrl-C stops both).

    A crashed process is started again, with back-off, while the other keeps serving."""
    from modelyard.serve import serve

    raise typer.Exit(serve(env_file, stdout(), log_setup=_serve_logging))


def _serve_logging() -> None:
    from service_kit.observability import configure_logging

    configure_logging("serve", "INFO", os.environ.get("MODEL_MANAGER_LOG_FORMAT", "auto"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
