"""The knowledge base at 100k / 300k / 1M chunks on this machine, through the ingest DAG's own task functions
(load_graph, build_index, publish: the tail every run goes through) and gateway workers' own retrieval engine.
The vector index alone is measured by bench/scale_bench.py.

Text: the Wikipedia passages of ../shared/corpus/wiki_passages.json, repeated with variation. Copy r of
passage p is one document; its chunks are sliding windows of 1 + r % 4 sentences of p, each followed by one
sentence of another passage drawn at random, and led by the document's reference code ("[KB-000123]"), as
enterprise documents carry ids. Entities: the passage titles a chunk's sentences contain (the retrieval
bench's matcher, per sentence) and the document's code; co-occurring entities in a chunk are RELATED.
Vectors: each chunk is its passage's real embedding plus noise (bench/scale_bench.py states the
distribution), because embedding 1M chunks costs hours on 2 cores. Questions: "Tell me about <title>." and
"How is <a> connected to <b>?" for titles with an edge, embedded by the worker as the gateway does.

Per size: the full build's tasks (seconds, peak RSS of each in its own process); the snapshot's size; a
worker (a fresh process) opening the version: seconds, RSS and its own (anonymous) part; retrieval p50/p99
per strategy, one query at a time and 8 at once over 2 workers (4 threads each); the nightly increment
(1% of documents changed, 0.1% deleted) through the same tasks, and a worker switching to it; backup and
restore of the home.

    .venv/bin/python bench/scale_kb_bench.py [--sizes 100000 300000 1000000] [--out var/bench/scale_kb]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, WIKI, pct, table  # noqa: E402

MODES = ("vector", "graph", "ppr", "hybrid")
SIGMA = 0.75


def _rss() -> dict[str, float]:
    """This process's resident MB: all of it, and its anonymous part (its own heap, not shared file pages)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "VmHWM"):
            out[key] = int(rest.split()[0]) / 1024
    return {"rss": out["VmRSS"], "anon": out["RssAnon"], "peak": out["VmHWM"]}


# -- the corpus -------------------------------------------------------------------------------------------


def _sentences(passages: list[dict]) -> tuple[list[list[str]], list[list[set[str]]]]:
    titles = sorted({p["title"] for p in passages})
    by_lower = {t.lower(): t for t in titles}
    sents, found = [], []
    for p in passages:
        ss = [s for s in re.split(r"(?<=[.!?])\s+", p["text"]) if s]
        sents.append(ss)
        per = []
        for s in ss:
            words = re.findall(r"[\w'-]+", s.lower())
            hits = set()
            for n in range(1, 5):
                for j in range(len(words) - n + 1):
                    t = by_lower.get(" ".join(words[j:j + n]))
                    if t:
                        hits.add(t)
            per.append(hits)
        found.append(per)
    return sents, found


def _documents(passages, sents, found, n: int, changed: set[int] | None = None, seed: int = 0):
    """Staged frames for documents until n chunks; `changed`: document numbers whose variation sentences are
    drawn again (their new version). Returns (documents, chunks, mentions, entities, relations, passage of
    each chunk)."""
    import pandas as pd

    from kgflow.ids import stable_id
    from kgflow.nlp.normalize import entity_id

    docs, chunks, mentions, rels, passage_of = [], [], [], [], []
    entities: dict[str, tuple[str, str]] = {}
    order = list(range(len(passages)))
    doc_no = 0
    r = 0
    while len(chunks) < n:
        random.Random(r).shuffle(order)
        width = 1 + r % 4
        for p in order:
            if len(chunks) >= n:
                break
            if changed is not None and doc_no not in changed:
                doc_no += 1
                continue
            rng = random.Random(f"{seed}-{doc_no}-{1 if changed is not None else 0}")
            ss, hits = sents[p], found[p]
            title = passages[p]["title"]
            code = f"KB-{doc_no:06d}"
            did = stable_id("doc", "bench", doc_no)
            uri = f"share://bench/{doc_no // 1000:04d}/{code}.md"
            docs.append({"doc_id": did, "uri": uri, "title": f"{title} ({code})", "tags": [], "sha256": "-",
                         "department": "public", "acl": ["*"], "format": "md", "size_bytes": 0, "n_elements": 0,
                         "n_chunks": 0, "duplicate_of": None})
            for i in range(max(1, len(ss) - width + 1)):
                q = rng.randrange(len(passages))
                k = rng.randrange(len(sents[q])) if sents[q] else 0
                extra = sents[q][k] if sents[q] else ""
                text = f"[{code}] " + " ".join(ss[i:i + width]) + " " + extra
                cid = stable_id("chk", did, i, text)
                chunks.append({"chunk_id": cid, "doc_id": did, "ord": i, "text": text, "page": 1,
                               "n_chars": len(text), "section": ""})
                passage_of.append(p)
                named = set().union(*hits[i:i + width]) | (found[q][k] if sents[q] else set())
                names = sorted(named)[:6]
                ids = [entity_id(code)] + [entity_id(t) for t in names]
                entities.setdefault(ids[0], (code, "ID"))
                for t, e in zip(names, ids[1:], strict=True):
                    entities.setdefault(e, (t, "CONCEPT"))
                for e, name in zip(ids, [code, *names], strict=True):
                    mentions.append({"chunk_id": cid, "doc_id": did, "entity_id": e, "name": name, "label": "X",
                                     "count": 1})
                for a, b in zip(ids, ids[1:], strict=False):
                    rels.append({"rel_id": stable_id("rel", a, b, cid), "src": a, "dst": b, "type": "co_occurs",
                                 "weight": 0.5, "evidence_chunk": cid, "doc_id": did})
                if len(chunks) >= n:
                    break
            doc_no += 1
        r += 1
        if changed is not None and doc_no > max(changed):
            break
    ents = pd.DataFrame([{"entity_id": e, "name": nm, "label": lb, "aliases": []}
                         for e, (nm, lb) in entities.items()])
    return (pd.DataFrame(docs), pd.DataFrame(chunks), pd.DataFrame(mentions), ents, pd.DataFrame(rels), passage_of)


def _stage(run: Path, frames, vectors, variant: str, changes) -> None:
    import pandas as pd

    from kgflow.ingest.isolate import write_table
    from kgflow.ingest.staging import private_dir, write_json
    from kgflow.schemas import empty_frame

    private_dir(run)
    documents, chunks, mentions, entities, relations, _ = frames
    for name, df in (("documents", documents), ("chunks", chunks), ("mentions", mentions),
                     ("entities", entities), ("relations", relations), ("quarantine", empty_frame("quarantine"))):
        write_table(run, name, df)
    write_table(run, "vectors", pd.DataFrame({"chunk_id": chunks["chunk_id"], "vector": list(vectors)}))
    write_json(run, "embed.json", {"variant": variant})
    changes.to_parquet(run / "changes.parquet", index=False)


def _changes(documents, change: str, deleted=None):
    import pandas as pd

    from kgflow.schemas import arrow_schema

    rows = [{"doc_id": d, "source": "bench", "uri": u, "rel_path": u.removeprefix("share://"), "ext": "md",
             "department": "public", "acl": ["*"], "version": "v2" if change == "changed" else "v1",
             "sha256": ("b" if change == "changed" else "a") * 64, "size_bytes": 0, "reason": None, "detail": None,
             "change": change} for d, u in zip(documents["doc_id"], documents["uri"], strict=True)]
    for d, u in deleted or []:
        rows.append({**rows[0], "doc_id": d, "uri": u, "rel_path": u, "change": "deleted"})
    return pd.DataFrame(rows, columns=list(arrow_schema("changes").names))


# -- one DAG task in its own process (its peak RSS is the task's) -----------------------------------------


def _task(home: Path, name: str, run: Path) -> dict:
    env = {**os.environ, "KGFLOW_HOME": str(home)}
    r = subprocess.run([sys.executable, __file__, "--task", name, "--run", str(run)], env=env,
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{name} failed: {r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _run_task(name: str, run: Path) -> None:
    from kgflow.config import get_settings
    from kgflow.ingest import steps

    s = get_settings()
    t = time.perf_counter()
    if name == "load_graph":
        out = steps.load_graph(run, s)
    elif name == "build_index":
        out = steps.build_index(run, s)
    else:
        out = steps.publish(run, run.name, s, quality_gate=False)
        out = {"kb_snapshot": out["kb_snapshot"]}
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the bench's own (larger) process
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_mb": _rss()["peak"], "out": out}, default=str))


# -- gateway workers --------------------------------------------------------------------------------------


def _worker(questions: list[str], threads: int, go: Path | None, switch: bool, variant: str) -> None:
    """A gateway worker's engine: open the published version, then answer `questions` per strategy on
    `threads` threads (after `go` exists, so two workers start together); figures as JSON on stdout."""
    from kgflow.config import get_settings
    from kgflow.retrieval.engine import RetrievalEngine
    from kgflow.vectors.embedder import Embedder, keep_torch_out

    s = get_settings()
    keep_torch_out(s.query_embedder_backend)  # as kgflow.gateway.app.worker_app does
    embedder = Embedder.from_settings(s, purpose="query", index_variant=variant)
    embedder.embed(["warm up"])
    engine = RetrievalEngine(s, embedder=embedder)
    base = _rss()
    t = time.perf_counter()
    snap = engine.snapshot()
    for mode in MODES:
        engine.retriever(mode).prepare(snap)
    out = {"load_s": time.perf_counter() - t, "base": base, "loaded": _rss(), "version": snap.version}
    del snap  # a gateway worker holds no version of its own beside the engine's: the switch must free it
    t = time.perf_counter()
    for mode in MODES:  # a worker's first question per strategy loads what it lazily needs (spaCy's parser)
        engine.retrieve("What is the first question?", mode=mode, top_k=8)
    out["first_question_s"] = time.perf_counter() - t
    print(json.dumps({"ready": True}), flush=True)
    if go is not None:
        while not go.exists():
            time.sleep(0.05)
    lat = {m: [] for m in MODES}
    found: dict[str, dict[str, list[str]]] = {m: {} for m in MODES}
    failures = 0
    lock = threading.Lock()

    def ask(mode: str, qs: list[str]) -> None:
        nonlocal failures
        for q in qs:
            t0 = time.perf_counter()
            try:
                r = engine.retrieve(q, mode=mode, top_k=8)
            except Exception as e:  # counted, never dropped: a figure goes with its failures
                print(f"{mode}: {e!r}", file=sys.stderr)
                with lock:
                    failures += 1
                continue
            ms = (time.perf_counter() - t0) * 1e3
            with lock:
                lat[mode].append(ms)
                found[mode][q] = [c.chunk.id for c in r.chunks]
                failures += not r.chunks
    wall = {}
    for mode in MODES:
        parts = [questions[i::threads] for i in range(threads)]
        pool = [threading.Thread(target=ask, args=(mode, p)) for p in parts]
        t0 = time.perf_counter()
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        wall[mode] = time.perf_counter() - t0
    out |= {"lat": lat, "found": found, "wall": wall, "after": _rss(), "empty": failures}
    if switch:  # the next version was published meanwhile: how long a worker takes to follow it
        print(json.dumps({"switch_ready": True}), flush=True)
        sys.stdin.readline()
        engine.refresh()
        t = time.perf_counter()
        snap = engine.snapshot()
        engine.retrieve(questions[0], mode="hybrid", top_k=8)
        out |= {"switch_s": time.perf_counter() - t, "switched_to": snap.version, "after_switch": _rss()}
    print(json.dumps(out), flush=True)


def _start_worker(home: Path, questions: list[str], threads: int, go: Path | None, variant: str,
                  switch: bool = False):
    env = {**os.environ, "KGFLOW_HOME": str(home)}
    spec = {"threads": threads, "go": str(go or ""), "switch": switch, "variant": variant}
    p = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)],
                         env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdin.write(json.dumps(questions) + "\n")
    p.stdin.flush()
    assert json.loads(p.stdout.readline())["ready"]
    return p


def _finish(p) -> dict:
    out, _ = p.communicate()
    return json.loads(out.strip().splitlines()[-1])


# -- the bench --------------------------------------------------------------------------------------------


def _size(args, n: int, passages, sents, found, pv, variant: str, questions: list[str]) -> dict:
    import numpy as np

    home = (args.out / f"home-{n}").absolute()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    os.environ["KGFLOW_HOME"] = str(home)
    os.environ["KGFLOW_VECTOR_INDEX"] = args.index if args.index != "auto" else (
        "ivf_pq" if n > 300_000 else "hnsw_flat")
    res: dict = {"chunks": n, "index": os.environ["KGFLOW_VECTOR_INDEX"]}
    t = time.perf_counter()
    frames = _documents(passages, sents, found, n)
    docs = frames[0]
    rng = np.random.default_rng(0)
    vecs = pv[np.asarray(frames[5])] + SIGMA * rng.standard_normal((n, pv.shape[1]), dtype="float32") / np.sqrt(
        pv.shape[1])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    res |= {"documents": len(docs), "entities": len(frames[3]), "mentions": len(frames[2]),
            "relations": len(frames[4]), "corpus_s": time.perf_counter() - t}
    print(f"{n:,}: {len(docs):,} documents, {len(frames[3]):,} entities, {len(frames[2]):,} mentions, "
          f"{len(frames[4]):,} relations ({res['corpus_s']:.0f} s)", flush=True)
    runs = home / "runs"
    run = runs / "full"
    _stage(run, frames, vecs, variant, _changes(docs, "new"))
    del vecs
    res["full"] = {task: _task(home, task, run) for task in ("load_graph", "build_index", "publish")}
    kb = next((home / "index").glob("v*/kb"))
    res["kb_mb"] = sum(f.stat().st_size for f in kb.rglob("*") if f.is_file()) / 2**20
    graph_file = home / "graph" / "kgflow.lbug"
    res["graph_mb"] = sum(f.stat().st_size for f in graph_file.parent.glob("*") if f.is_file()) / 2**20
    print(f"  full build: {json.dumps({k: round(v['seconds'], 1) for k, v in res['full'].items()})}", flush=True)

    # retrieval: one worker alone, one query at a time; then 2 workers x 4 threads; the second pair stays up
    # to follow the increment
    solo = _start_worker(home, questions, 1, None, variant)
    res["solo"] = _finish(solo)
    go = home / "go"
    pair = [_start_worker(home, questions, 4, go, variant, switch=True) for _ in range(2)]
    go.touch()
    lines = [json.loads(p.stdout.readline()) for p in pair]
    assert all(x.get("switch_ready") for x in lines)

    # the nightly increment: 1% of documents changed, 0.1% deleted
    pick = np.random.default_rng(1).permutation(len(docs))
    n_changed, n_deleted = max(1, len(docs) // 100), max(1, len(docs) // 1000)
    changed = {int(i) for i in pick[:n_changed]}
    deleted = docs.iloc[pick[n_changed:n_changed + n_deleted]]
    new = _documents(passages, sents, found, n, changed=changed)
    nv = pv[np.asarray(new[5])] + SIGMA * rng.standard_normal((len(new[1]), pv.shape[1]), dtype="float32") / np.sqrt(
        pv.shape[1])
    nv /= np.linalg.norm(nv, axis=1, keepdims=True)
    run = runs / "nightly"
    _stage(run, new, nv, variant, _changes(new[0], "changed", list(zip(deleted["doc_id"], deleted["uri"],
                                                                       strict=True))))
    res["increment"] = {"documents": len(new[0]), "deleted": len(deleted), "chunks": len(new[1])}
    res["nightly"] = {task: _task(home, task, run) for task in ("load_graph", "build_index", "publish")}
    for p in pair:
        p.stdin.write("\n")
        p.stdin.flush()
    res["pair"] = [_finish(p) for p in pair]
    # 8 at once must answer what one at a time answers: the same chunks for every question and strategy
    res["differ"] = sum(w["found"][m].get(q) != res["solo"]["found"][m].get(q) for w in res["pair"] for m in MODES
                        for q in w["found"][m])
    res["answered"] = sum(len(w["found"][m]) for w in res["pair"] for m in MODES)
    for w in [res["solo"], *res["pair"]]:
        w.pop("found")
    print(f"  nightly: {json.dumps({k: round(v['seconds'], 1) for k, v in res['nightly'].items()})}, "
          f"switch {[round(w['switch_s'], 2) for w in res['pair']]} s", flush=True)

    # backup and restore of the whole home
    from kgflow.config import Settings
    from kgflow.ops.backup import backup, restore

    s = Settings()
    target = args.out / f"backup-{n}"
    shutil.rmtree(target, ignore_errors=True)
    t = time.perf_counter()
    b = backup(s, str(target.absolute()))
    res["backup_s"], res["backup_mb"] = time.perf_counter() - t, b["bytes"] / 2**20
    restored = args.out / f"restored-{n}"
    shutil.rmtree(restored, ignore_errors=True)
    t = time.perf_counter()
    restore(b["archive"], restored.absolute())
    res["restore_s"] = time.perf_counter() - t
    shutil.rmtree(restored, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    print(f"  backup {res['backup_s']:.1f} s ({res['backup_mb']:.0f} MB), restore {res['restore_s']:.1f} s",
          flush=True)
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return res


def _questions(passages, found, count: int) -> list[str]:
    rng = random.Random(0)
    titles = [p["title"] for p in passages]
    pairs = [(passages[p]["title"], t) for p in range(len(passages)) for hits in found[p] for t in sorted(hits)
             if t != passages[p]["title"]]
    rng.shuffle(pairs)
    qs = [f"How is {a} connected to {b}?" for a, b in pairs[: count // 2]]
    return qs + [f"Tell me about {rng.choice(titles)}." for _ in range(count - len(qs))]


def _report(results: list[dict]) -> str:
    out = []
    rows = []
    for r in results:
        for mode in MODES:
            solo = r["solo"]["lat"][mode]
            both = [x for w in r["pair"] for x in w["lat"][mode]]
            qps = len(both) / max(w["wall"][mode] for w in r["pair"])  # the two workers ran side by side
            rows.append([f"{r['chunks']:,}", r["index"], mode, pct(solo, 50), pct(solo, 99), pct(both, 50),
                         pct(both, 99), qps])
    out.append(table("retrieval per strategy (ms, question embedding included)",
                     ["chunks", "index", "strategy", "p50 one at a time", "p99", "p50 8 at once / 2 workers", "p99",
                      "questions/s (8 at once)"], rows))
    out.append("checks: " + "; ".join(
        f"{r['chunks']:,}: {sum(w['empty'] for w in [r['solo'], *r['pair']])} failed or empty, "
        f"{r['differ']} of {r['answered']} concurrent answers differ from the one-at-a-time answer" for r in results))
    rows = []
    for r in results:
        w = r["solo"]
        rows.append([f"{r['chunks']:,}", w["load_s"], w["loaded"]["rss"], w["loaded"]["anon"], w["after"]["rss"],
                     w["after"]["anon"], max(p["after"]["rss"] for p in r["pair"]),
                     max(p["after_switch"]["rss"] for p in r["pair"]), max(p["switch_s"] for p in r["pair"])])
    out.append(table("a gateway worker (a fresh process; MB)",
                     ["chunks", "open s", "RSS open", "own", "RSS after queries", "own", "RSS 4 threads",
                      "RSS after switch", "switch s"], rows))
    rows = []
    for r in results:
        for task in ("load_graph", "build_index", "publish"):
            f, g = r["full"][task], r["nightly"][task]
            rows.append([f"{r['chunks']:,}", task, f["seconds"], f["peak_mb"], g["seconds"], g["peak_mb"]])
        rows.append([f"{r['chunks']:,}", "total", sum(r["full"][t]["seconds"] for t in r["full"]), "",
                     sum(r["nightly"][t]["seconds"] for t in r["nightly"]), ""])
    out.append(table("DAG tasks: full build and the nightly increment (1% changed, 0.1% deleted)",
                     ["chunks", "task", "full s", "peak RSS MB", "nightly s", "peak RSS MB"], rows))
    rows = [[f"{r['chunks']:,}", r["documents"], r["entities"], r["mentions"], r["relations"], r["kb_mb"],
             r["full"]["publish"]["out"]["kb_snapshot"]["seconds"],
             r["nightly"]["publish"]["out"]["kb_snapshot"]["seconds"],
             r["nightly"]["publish"]["out"]["kb_snapshot"]["written"], r["graph_mb"], r["backup_s"], r["backup_mb"],
             r["restore_s"]] for r in results]
    out.append(table("knowledge base", ["chunks", "documents", "entities", "mentions", "relations", "kb/ MB",
                                        "snapshot whole s", "snapshot nightly s", "nightly wrote", "graph MB",
                                        "backup s", "backup MB", "restore s"], rows))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--index", default="auto", help="hnsw_flat, ivf_pq, or auto (ivf_pq past 300k)")
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "scale_kb")
    ap.add_argument("--keep", action="store_true", help="keep each size's home")
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        return _run_task(args.task, args.run)
    if args.worker:
        w = json.loads(args.worker)
        return _worker(json.loads(sys.stdin.readline()), w["threads"], Path(w["go"]) if w["go"] else None,
                       w["switch"], w["variant"])
    args.out.mkdir(parents=True, exist_ok=True)
    (REPO / "var" / "bench" / "scale").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KGFLOW_HOME", str((args.out / "home").absolute()))
    from scale_bench import _base

    pv, _, variant = _base(REPO / "var" / "bench" / "scale", 1, os.cpu_count() or 1)  # the same passage embeddings
    passages = json.loads(WIKI.read_text())
    sents, found = _sentences(passages)
    questions = _questions(passages, found, args.queries)
    results = []
    for n in args.sizes:
        results.append(_size(args, n, passages, sents, found, pv, variant, questions))
        (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"\n{len(questions)} questions; {os.cpu_count()} cores")
    print(_report(results))


if __name__ == "__main__":
    main()
