#!/usr/bin/env bash
# Every bench, one after another (they share 2 cores: never in parallel). Logs in var/bench/.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/bench
PY=.venv/bin/python
$PY bench/ingest_bench.py --docs "${DOCS:-1000}" > var/bench/ingest.log 2>&1; echo "ingest exit $?"
SHARE="${SHARE:-../shared/corpus/handbook}"
[ -d "$SHARE" ] && { $PY bench/ingest_bench.py --share "$SHARE" > var/bench/share.log 2>&1; echo "share exit $?"; }
for f in txt md; do $PY bench/quality_bench.py --format $f > var/bench/quality_$f.log 2>&1; echo "quality $f exit $?"; done
$PY bench/graph_backend_bench.py --docs "${DOCS:-1000}" > var/bench/graph_backends.log 2>&1; echo "graph backends exit $?"
$PY bench/retrieval_bench.py --chunks "${CHUNKS:-100000}" > var/bench/retrieval.log 2>&1; echo "retrieval exit $?"
KB=$(mktemp -d)
KGFLOW_HOME=$KB $PY -m kgflow.cli.app corpus > /dev/null && KGFLOW_HOME=$KB $PY -m kgflow.orchestration.run_dag knowledge_ingest > var/bench/gateway_kb.log 2>&1
$PY bench/gateway_bench.py --kb "$KB" > var/bench/gateway.log 2>&1; echo "gateway exit $?"
$PY bench/refresh_bench.py > var/bench/refresh.log 2>&1; echo "refresh exit $?"
KGFLOW_TRAIN_BATCH_SIZE=1 $PY bench/answer_bench.py --refresh-steps 20 > var/bench/answer.log 2>&1; echo "answer exit $?"
$PY bench/grounding_bench.py --questions 40 > var/bench/grounding.log 2>&1; echo "grounding exit $?"
for f in ingest share graph_backends quality_txt quality_md retrieval gateway refresh answer grounding; do sed -n '/^==\|^ingest:\|^share\|^corpus\|^[0-9,]* chunks\|^[0-9]* requests\|^knowledge base\|overhead\|per-task/,$p' var/bench/$f.log | grep -v "^\s*$" | grep -v "^20[0-9][0-9]-" ; done
