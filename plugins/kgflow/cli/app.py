"""Typer application. Every command calls the library; nothing here holds pipeline logic."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from kgflow.config import get_settings, offline_env
from kgflow.errors import KgflowError
from kgflow.fsutil import make_private

console = Console()


def fail(message: str) -> None:
    """One line that says what to do, and a non-zero exit (no traceback)."""
    console.print(f"[red]error:[/] {message}", soft_wrap=True)  # one line, however narrow the terminal
    raise typer.Exit(1)


class KgflowGroup(TyperGroup):
    """Every command's KgflowError ends as one line that says what to do and exit status 1: mapped here,
    once, for every command."""

    def invoke(self, ctx):
        try:
            args = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if args and "--help" not in args:  # a command: settings load (and are checked) before it runs
                make_private(get_settings().home)
            return super().invoke(ctx)
        except KgflowError as e:
            fail(e.message)


app = typer.Typer(cls=KgflowGroup, add_completion=False, no_args_is_help=True,
                  help="kgflow: documents -> knowledge graph -> answers")


def require_knowledge_base(s) -> None:
    from kgflow.graph.base import file_backed
    from kgflow.vectors.index_store import VectorIndexStore

    file_missing = file_backed(s) and not s.graph_path.exists()
    if file_missing or VectorIndexStore(s.index_dir).current_version() is None:
        fail(f"no knowledge base in {s.home} yet: run `kgflow ingest` (or `kgflow demo` for the sample corpus)")


@app.command()
def corpus(
    n: Annotated[int, typer.Option(help="number of documents")] = 50,
    out: Annotated[Path | None, typer.Option(help="landing zone (default: configured)")] = None,
    wiki: Annotated[Path | None, typer.Option(help="wiki_passages.json to add real text")] = None,
    seed: int = 7,
) -> None:
    """Generate the sample corpus (fictional company, every format, bad files, ground truth)."""
    from kgflow.corpus.generator import default_truth_path, generate_corpus

    landing = out or get_settings().landing_dir
    truth = generate_corpus(landing, n_docs=n, seed=seed, wiki_passages=wiki,
                            max_document_bytes=get_settings().max_document_bytes)
    console.print(f"wrote {len(truth['documents'])} documents + {len(truth['bad_files'])} bad files to {landing}; "
                  f"ground truth: {default_truth_path(landing)}")


@app.command()
def ingest(
    source: Annotated[str, typer.Option(help="a configured source's name, or a folder/URL scanned as a source of "
                                             "its own; empty: every configured source")] = "",
    full_rebuild: Annotated[bool, typer.Option("--full-rebuild")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    max_documents: Annotated[int | None, typer.Option()] = None,
    max_quarantine_share: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="fail when more than this share of new/changed documents is quarantined "
                               "(default KGFLOW_MAX_QUARANTINE_SHARE; 1 for a first bulk load of a messy share)")]
    = None,
) -> None:
    """Run the knowledge_ingest DAG once (real Airflow, dag.test) and print what was built."""
    from kgflow.cli.progress import run_dag_with_progress
    from kgflow.sources import kind_of, select_sources

    chosen = select_sources(get_settings(), source)
    if source and kind_of(chosen[0].url) == "local" and not Path(chosen[0].url.removeprefix("file://")).exists():
        fail(f"source {source} does not exist: give an existing folder, a configured source's name, "
             "or leave --source out to scan every configured source")
    conf = {"source": source, "full_rebuild": full_rebuild, "dry_run": dry_run, "max_documents": max_documents,
            "max_quarantine_share": max_quarantine_share}
    console.print(f"[bold]knowledge_ingest[/] {json.dumps(conf)}")
    started = time.time()
    rc, run, log = run_dag_with_progress("knowledge_ingest", conf, console)
    if run is not None:
        _print_run_summary(run)
    if rc != 0:
        _print_failure(get_settings().home, "knowledge_ingest", started)
        console.print(f"[red]DAG run failed[/] (log: {log})", soft_wrap=True)
        raise typer.Exit(rc)
    from kgflow.ingest.staging import read_json

    disc = read_json(run, "discover.json") if run is not None else None
    if disc and not (disc["new"] or disc["changed"] or disc["deleted"]):
        console.print(f"nothing to do: no new, changed or deleted documents since the last publish (log: {log})",
                      soft_wrap=True)
    else:
        console.print(f"done (log: {log})", soft_wrap=True)


def _print_failure(home: Path, dag_id: str, since: float, run_id: str | None = None) -> None:
    """The failed task and its one-line reason, as its failure callback recorded them."""
    from kgflow.orchestration.tasks import last_failure

    failure = last_failure(home, dag_id, since, run_id)
    if failure:
        console.print(f"[red]{failure['task_id']} failed:[/] {failure['error']}", soft_wrap=True)


def _print_run_summary(run: Path) -> None:
    from kgflow.ingest.staging import read_json, read_table

    disc = read_json(run, "discover.json")
    if disc:
        console.print("changes: " + ", ".join(f"{k} {disc[k]}" for k in ("new", "changed", "unchanged", "deleted")))
    val = read_json(run, "validation.json")
    if val and val.get("internal_errors"):
        t = Table(title=f"[red]INTERNAL ERROR[/]: kgflow broke its own bound on {len(val['internal_errors'])} "
                        "document(s); they are not at fault and nothing was published")
        for column in ("document", "rule", "kept by"):
            t.add_column(column, overflow="fold")
        for r in val["internal_errors"]:
            t.add_row(Path(str(r.get("uri") or r["doc_id"]).removeprefix("file://")).name, r["rule"], r["kept_by"])
        console.print(t)
    elif val and not val["success"]:
        console.print(f"[red]validation failed[/]: {run / 'validation.json'}")
    share = (val or {}).get("quarantine_share") or {}
    if share.get("pending", 0) >= share.get("min_documents", 1) and share.get("share", 0) > share.get("max", 1):
        console.print(f"[red]{share['quarantined']} of {share['pending']} new or changed documents quarantined "
                      f"({share['share']:.0%}, over KGFLOW_MAX_QUARANTINE_SHARE={share['max']:.0%})[/]: nothing was "
                      "published. Fix the cause below, or rerun with --max-quarantine-share 1 to publish the rest.",
                      soft_wrap=True)
    pub = read_json(run, "publish.json")
    if pub:
        t = Table(title="knowledge base")
        for k in ("documents", "chunks", "entities", "mentions", "relations"):
            t.add_column(k, justify="right")
        t.add_column("index vectors", justify="right")
        g = pub["graph"]
        t.add_row(*(str(g[k]) for k in ("documents", "chunks", "entities", "mentions", "relations")),
                  str(pub["index_vectors"]))
        console.print(t)
    q = read_table(run, "quarantine")
    if len(q):
        t = Table(title=f"quarantined ({len(q)})")
        t.add_column("file")
        t.add_column("reason")
        t.add_column("detail", overflow="fold")
        for r in q.itertuples():
            t.add_row(Path(r.uri.removeprefix("file://")).name, r.reason, r.detail[:80])
        console.print(t)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="the same as JSON, for scripts")] = False) -> None:
    """The last run of each DAG (state, when, how long, what it did) and the knowledge base: graph counts and
    the live index version."""
    from kgflow.graph import open_graph_store
    from kgflow.graph.base import file_backed
    from kgflow.ops.status import last_runs
    from kgflow.vectors.index_store import VectorIndexStore

    s = get_settings()
    runs = last_runs(s)
    version = VectorIndexStore(s.index_dir).current_version()
    graph = None
    if version is not None and (not file_backed(s) or s.graph_path.exists()):
        with open_graph_store(s, read_only=True) as g:
            graph = g.counts()
    if as_json:
        console.print_json(json.dumps({"index_version": version, "graph": graph,
                                       "last_runs": [r.as_dict() for r in runs]}))
        return
    t = Table(title=f"last runs ({s.home})")
    for column in ("DAG", "state", "started", "seconds", "what it did"):
        t.add_column(column, overflow="fold")
    for r in runs:
        t.add_row(r.dag_id, r.state or "", r.started or "", "" if r.seconds is None else f"{r.seconds:g}", r.summary)
    console.print(t if runs else "no DAG has run in this home yet: `kgflow ingest`, or trigger one in the UI")
    if version is None:
        console.print("knowledge base: nothing published yet")
    else:
        counts = ", ".join(f"{v} {k}" for k, v in (graph or {}).items())
        console.print(f"knowledge base: index {version}; graph {counts}", soft_wrap=True)


@app.command()
def recall() -> None:
    """Compare the graph with the sample corpus's ground truth."""
    from kgflow.corpus.generator import load_truth
    from kgflow.graph import open_graph_store
    from kgflow.ingest.recall import graph_recall

    s = get_settings()
    require_knowledge_base(s)
    with open_graph_store(s, read_only=True) as g:
        console.print(graph_recall(g, load_truth(s.landing_dir)))


@app.command()
def up(
    port: int = 8080,
    graph: Annotated[str, typer.Option(help="embedded (LadybugDB) or neo4j: also start a local Neo4j 5.26 "
                                            "(data under the home) and point neo4j_default at it")] = "embedded",
    neo4j_port: int = 7687,
) -> None:
    """Start Airflow standalone (UI + API on PORT, scheduler, dag-processor, triggerer) in the background."""
    import os

    from kgflow.orchestration.standalone import start

    if graph not in ("embedded", "neo4j"):
        fail(f"--graph {graph!r}: choose embedded or neo4j")
    if graph == "neo4j":
        from kgflow.orchestration.airflow_home import ensure_connections
        from kgflow.orchestration.standalone import start_in_background, write_connection

        ensure_connections()
        s = get_settings()
        server = start_in_background(s.home, s.neo4j_conn_id, neo4j_port)
        write_connection(server, s.neo4j_conn_id)
        os.environ["KGFLOW_GRAPH_BACKEND"] = "neo4j"  # the Airflow started below runs its DAGs on it
        console.print(f"Neo4j 5.26: {server.bolt_url} (Connection neo4j_default; data in {server.data_dir}); "
                      "export KGFLOW_GRAPH_BACKEND=neo4j for the CLI too", soft_wrap=True)
    try:
        info = start(get_settings().home, port)
    except KgflowError:
        if graph == "neo4j":  # what this start brought up goes down with it
            from kgflow.orchestration.standalone import stop

            stop(get_settings().home, "neo4j")
        raise
    console.print(f"Airflow UI: http://127.0.0.1:{port}  user: admin  password: {info['password']}")
    console.print(f"logs: {info['log']}   stop with: kgflow down")


@app.command()
def trigger(
    dag_id: Annotated[str, typer.Argument(help="e.g. knowledge_ingest, model_refresh, kb_backup")],
    conf: Annotated[str, typer.Option(help="the run's params as JSON, e.g. '{\"dry_run\": true}'")] = "{}",
    url: Annotated[str | None, typer.Option(help="Airflow API (default: the one `kgflow up` started)")] = None,
    username: Annotated[str, typer.Option(envvar="KGFLOW_AIRFLOW_USERNAME")] = "admin",
    password: Annotated[str | None, typer.Option(envvar="KGFLOW_AIRFLOW_PASSWORD",
                                                 help="default: the password `kgflow up` generated")] = None,
    unpause: Annotated[bool, typer.Option("--unpause", help="unpause the DAG first (its schedule starts too)")]
    = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the run to its end")] = True,
) -> None:
    """Trigger a DAG run on a running Airflow through its REST API and follow it task by task."""
    from kgflow.orchestration.airflow_api import AirflowApi
    from kgflow.orchestration.airflow_home import airflow_env
    from kgflow.orchestration.standalone import admin_password, local_api_url

    try:
        params = json.loads(conf)
    except json.JSONDecodeError as e:
        fail(f"--conf is not JSON ({e.msg} at {e.pos}): give an object such as '{{\"dry_run\": true}}'")
    if not isinstance(params, dict):
        fail("--conf must be a JSON object of the DAG's params, such as '{\"dry_run\": true}'")
    url = url or local_api_url(get_settings().home)
    if url is None:
        fail("no Airflow started by `kgflow up` in this home: start it with `kgflow up`, or give --url")
    password = password or admin_password(Path(airflow_env()["AIRFLOW_HOME"])) or ""
    with AirflowApi(url, username, password) as api:
        api.login()
        if params:
            from kgflow.orchestration.runtime import refuse_unknown_params

            refuse_unknown_params(list(params), api.params(dag_id), whose=f"{dag_id}'s")
        if api.dag(dag_id)["is_paused"]:
            if not unpause:
                fail(f"{dag_id} is paused (DAGs start paused): unpause it in the UI, or add --unpause")
            api.unpause(dag_id)
            console.print(f"{dag_id}: unpaused")
        run = api.trigger(dag_id, params)
        run_id = run["dag_run_id"]
        console.print(f"[bold]{dag_id}[/] run {run_id}  {url}/dags/{dag_id}/runs/{run_id}", soft_wrap=True)
        if not wait:
            return
        state = api.follow(dag_id, run_id, lambda task, st: console.print(f"  {task}: {st}"))
        if state == "success":  # a run whose work was skipped is not one that did it: say so, and why
            states = api.task_states(dag_id, run_id)
            skipped = [t for t, st in states.items() if st == "skipped"]
            if skipped and all(st in ("skipped", "success") for st in states.values()):
                # the first task to skip logged why; those after it may add their own reason or none
                reason = next((r for t in skipped if (r := api.skip_reason(dag_id, run_id, t))),
                              "no reason logged")
                state = f"success, {len(skipped)} of {len(states)} tasks skipped: {reason}"
    console.print(f"{dag_id} run {run_id}: {state}", soft_wrap=True)
    if not state.startswith("success"):
        _print_failure(get_settings().home, dag_id, 0.0, run_id)
        raise typer.Exit(1)


@app.command()
def token(
    subject: Annotated[str, typer.Option("--sub", help="who the caller is (the audit log's user)")] = "me",
    role: Annotated[str, typer.Option(help="api_user or admin")] = "api_user",
    department: Annotated[list[str] | None, typer.Option(help="a department the caller may read (repeat)")] = None,
    ttl: Annotated[int, typer.Option(help="seconds the token is valid (the gateway takes at most 900)")] = 900,
) -> None:
    """Print a bearer token signed with this installation's secret (KGFLOW_JWT_SECRET, else the home's local
    one), as an identity provider would issue it: for curl and scripts against a local gateway."""
    from kgflow.tokens import mint_token, signing_secret

    print(mint_token(signing_secret(get_settings()), subject, role, department or [], ttl_s=ttl))


@app.command()
def down() -> None:
    """Stop everything `kgflow up` / `kgflow serve --background` started."""
    from kgflow.orchestration.standalone import stop_all

    stopped = stop_all(get_settings().home)
    for name, result in stopped.items():
        console.print(f"{name}: {result}")
    if not stopped:
        console.print("nothing running: no process that `kgflow up` or `kgflow serve --background` started",
                      soft_wrap=True)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8090,
    background: Annotated[bool, typer.Option("--background", help="detach; stop with `kgflow down`")] = False,
    workers: Annotated[int | None, typer.Option(help="gateway worker processes (default KGFLOW_GATEWAY_WORKERS)")]
    = None,
) -> None:
    """Start the TGI-compatible gateway on N workers (on the embedded default, with one llama.cpp server
    that they share; `kgflow down` stops both)."""
    import sys

    from kgflow.netutil import port_free, wait_http
    from kgflow.orchestration.standalone import AlreadyRunning, Service, pid_alive, running, start_service, stop
    from kgflow.tokens import signing_secret

    s = get_settings()
    workers = workers or s.gateway_workers
    # refused before anything starts: a second gateway of this home, or a port another program holds
    if (pid := running(s.home, "gateway")) is not None:
        raise AlreadyRunning(f"gateway from this home is already running (pid {pid}): use it, or `kgflow down` first")
    if not port_free(port, host):
        raise AlreadyRunning(f"port {port} is in use by another program: choose another with `--port`")
    # every worker verifies with this installation's secret (the environment's, else the local one)
    env: dict[str, str] = {} if s.jwt_public_key else {"KGFLOW_JWT_SECRET": signing_secret(s)}
    started: list[str] = []
    if workers > 1 and s.llm_backend == "llamacpp" and not s.llm_url:
        # each worker would otherwise start a llama.cpp server of its own
        from kgflow.llm.llamacpp_server import LlamaServer

        llama = LlamaServer(s.llm_model_path, n_ctx=s.llm_n_ctx)
        start_service(s.home, Service("llama-server", llama.command(), (llama.port,), lambda pid, _: wait_http(
            f"{llama.url}/v1/models", 180, lambda: pid_alive(pid), ok_below=300)))
        started.append("llama-server")
        env["KGFLOW_LLM_URL"] = llama.url
    if workers > 1:  # /metrics sums every worker's values (prometheus_client multiprocess mode)
        import shutil

        metrics_dir = s.home / "run" / "gateway-metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)  # values of a previous run's processes would add in
        metrics_dir.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    cmd = [sys.executable, "-m", "uvicorn", "kgflow.gateway.app:worker_app", "--factory", "--host", host,
           "--port", str(port), "--log-level", "warning", "--workers", str(workers)]
    if background:
        try:
            pid, log = start_service(s.home, Service("gateway", cmd, (port,), lambda pid, _: wait_http(
                f"http://{host}:{port}/health", 180, lambda: pid_alive(pid)), env=env, host=host))
        except KgflowError:
            for name in started:  # what this start brought up goes down with it
                stop(s.home, name)
            raise
        console.print(f"gateway on http://{host}:{port}, {workers} workers (pid {pid}, log {log})")
        return
    import os

    os.environ.update(env)
    os.execv(cmd[0], cmd)


@app.command()
def ask(
    question: str,
    url: str = "http://127.0.0.1:8090",
    department: Annotated[list[str] | None, typer.Option(help="department claim(s) of the caller")] = None,
    max_new_tokens: int = 96,
) -> None:
    """Ask the gateway over TGI's /generate; print the generated answer, the graph's answer, facts and citations.

    (text_generation.Client works too, see docs/gateway.md; it drops the `kgflow` extension that carries citations.)"""
    import httpx

    from kgflow.tokens import mint_token, signing_secret

    token = mint_token(signing_secret(get_settings()), "kgflow-cli", "admin" if not department else "api_user",
                       department)
    try:
        r = httpx.post(f"{url}/generate", json={"inputs": question, "parameters": {"max_new_tokens": max_new_tokens}},
                       headers={"Authorization": f"Bearer {token}"}, timeout=180)
    except httpx.ConnectError:
        fail(f"no gateway answers at {url}: start one with `kgflow serve` (or pass --url)")
    if r.status_code != 200:
        console.print(f"[red]{r.status_code}[/] {r.text}")
        raise typer.Exit(1)
    raw = r.json()
    ext = raw.get("kgflow", {})
    console.print(f"[bold]Q:[/] {question}")
    console.print(f"[bold]A:[/] {raw['generated_text'].strip()}")
    grounding = ext.get("grounding") or {}
    if grounding:
        console.print(f"  grounded: {str(ext.get('grounded')).lower()} ({grounding['action']}: {grounding['reason']})")
    answer = ext.get("answer")
    if answer:  # the graph's own answer: the end of a typed path from the question's entities (no model)
        path = " ; ".join(f"{h['subject']} —{h['relation']}→ {h['object']}" for h in answer["path"])
        console.print(f"[bold]graph answer:[/] {answer['entity']}   ({path})")
        for c in answer["citations"]:
            console.print(f"  cites {c['title']}  ({c['uri']})")
    if ext.get("facts"):
        console.print("[bold]graph facts:[/]")
        for f in ext["facts"][:6]:
            console.print(f"  {f['subject']} —{f['relation']}→ {f['object']}")
    console.print("[bold]citations:[/]")
    for c in ext.get("citations", []):
        console.print(f"  [{c['n']}] {c['title']}  ({c['uri']})  via {'+'.join(c['sources'])}")
    console.print("[dim]A: is the model's answer, checked against its sources; graph answer: is the knowledge "
                  "graph's own, read along the path shown, with no model.[/]")


@app.command()
def backup(
    target: Annotated[str | None, typer.Option(help="Directory or fsspec URL; default KGFLOW_BACKUP_TARGET "
                                                    "or <home>/backups")] = None,
) -> None:
    """Back up the graph, published index, manifest, model registry and audit log into one checked archive."""
    from kgflow.ops.backup import backup as take

    s = get_settings()
    require_knowledge_base(s)
    r = take(s, target)
    console.print(f"backup {r['archive']}: {r['bytes'] / 1e6:.1f} MB, {r['files']} files, {r['seconds']:.1f} s; "
                  f"retention removed {len(r['pruned'])}")


@app.command()
def restore(
    archive: Annotated[str, typer.Argument(help="Archive path or URL, or `latest` (in --target)")],
    home: Annotated[Path | None, typer.Option(help="Restore into this home (default KGFLOW_HOME); it must hold "
                                                   "no knowledge base")] = None,
    target: Annotated[str | None, typer.Option(help="Where `latest` is looked for")] = None,
) -> None:
    """Check an archive's every checksum, then restore it into an empty home."""
    from kgflow.ops.backup import latest
    from kgflow.ops.backup import restore as put_back

    s = get_settings()
    url = latest(target or s.backup_url) if archive == "latest" else archive
    r = put_back(url, (home or s.home).expanduser().absolute())
    console.print(f"restored {r['archive']} into {r['home']}: index {r['index_version']}, {r['files']} files, "
                  f"{r['seconds']:.1f} s")


@app.command()
def demo(
    n: int = 50,
    question: str = "Who leads the project that uses Corvane Beacon?",
    keep_serving: Annotated[bool, typer.Option("--keep-serving")] = False,
) -> None:
    """The main job: sample corpus -> knowledge_ingest DAG -> graph + index -> gateway -> cited answer."""
    from kgflow.orchestration.standalone import stop

    offline_env()
    s = get_settings()
    if not (s.landing_dir.exists() and any(s.landing_dir.rglob("*.*"))):
        corpus(n=n, out=None, wiki=None, seed=7)
    ingest(source="", full_rebuild=False, dry_run=False, max_documents=None, max_quarantine_share=None)
    recall()
    port = 8090
    stop(s.home, "gateway")
    stop(s.home, "llama-server")
    serve(host="127.0.0.1", port=port, background=True)
    try:
        ask(question, url=f"http://127.0.0.1:{port}", department=None, max_new_tokens=64)
    finally:
        if not keep_serving:
            stop(s.home, "gateway")
            stop(s.home, "llama-server")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
