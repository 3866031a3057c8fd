"""Typer application. Every command calls the library; nothing here holds pipeline logic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kgflow.config import get_settings, offline_env

app = typer.Typer(add_completion=False, no_args_is_help=True, help="kgflow: documents -> knowledge graph -> answers")
console = Console()


@app.command()
def corpus(
    n: Annotated[int, typer.Option(help="number of documents")] = 42,
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
    source: Annotated[str, typer.Option(help="landing path or file:// URI")] = "",
    full_rebuild: Annotated[bool, typer.Option("--full-rebuild")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    max_documents: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the knowledge_ingest DAG once (real Airflow, dag.test) and print what was built."""
    from kgflow.cli.progress import run_dag_with_progress

    conf = {"source": source, "full_rebuild": full_rebuild, "dry_run": dry_run, "max_documents": max_documents}
    console.print(f"[bold]knowledge_ingest[/] {json.dumps(conf)}")
    rc, run, log = run_dag_with_progress("knowledge_ingest", conf, console)
    if run is not None:
        _print_run_summary(run)
    if rc != 0:
        console.print(f"[red]DAG run failed[/] (see {log})")
        raise typer.Exit(rc)


def _print_run_summary(run: Path) -> None:
    from kgflow.ingest.staging import read_json, read_table

    disc = read_json(run, "discover.json")
    if disc:
        console.print("changes: " + ", ".join(f"{k} {disc[k]}" for k in ("new", "changed", "unchanged", "deleted")))
    val = read_json(run, "validation.json")
    if val and not val["success"]:
        console.print(f"[red]validation failed[/]: {run / 'validation.json'}")
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
def status() -> None:
    """Graph counts, the current index version and the last run."""
    from kgflow.graph import open_graph_store
    from kgflow.vectors.index_store import VectorIndexStore

    s = get_settings()
    with open_graph_store(s, read_only=True) as g:
        console.print({"graph": g.counts()})
    store = VectorIndexStore(s.index_dir)
    idx = store.load()
    console.print({"index": idx.manifest if idx else None})


@app.command()
def recall() -> None:
    """Compare the graph with the sample corpus's ground truth."""
    from kgflow.corpus.generator import load_truth
    from kgflow.graph import open_graph_store
    from kgflow.ingest.recall import graph_recall

    s = get_settings()
    with open_graph_store(s, read_only=True) as g:
        console.print(graph_recall(g, load_truth(s.landing_dir)))


@app.command()
def up(port: int = 8080) -> None:
    """Start Airflow standalone (UI + API on PORT, scheduler, dag-processor, triggerer) in the background."""
    from kgflow.orchestration.standalone import start

    info = start(port)
    console.print(f"Airflow UI: http://127.0.0.1:{port}  user: admin  password: {info['password']}")
    console.print(f"logs: {info['log']}   stop with: kgflow down")


@app.command()
def down() -> None:
    """Stop everything `kgflow up` / `kgflow serve --background` started."""
    from kgflow.orchestration.standalone import stop_all

    for name, result in stop_all().items():
        console.print(f"{name}: {result}")


@app.command()
def demo(n: int = 42) -> None:
    """The main job: sample corpus -> knowledge_ingest DAG -> graph + index -> gateway -> cited answer."""
    offline_env()
    s = get_settings()
    if not any(s.landing_dir.rglob("*.*")) if s.landing_dir.exists() else True:
        corpus(n=n, out=None, wiki=None, seed=7)
    ingest(source="", full_rebuild=False, dry_run=False, max_documents=None)
    recall()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
