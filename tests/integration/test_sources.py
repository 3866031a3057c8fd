"""Every DocumentSource keeps one contract (a local folder, and S3 through moto's real S3 server), and
sources side by side never touch each other's documents: through discovery and through the real DAG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kgflow.config import Settings, SourceConfig
from kgflow.schemas import empty_frame
from kgflow.seams import SOURCES
from kgflow.sources import open_source, select_sources
from kgflow.sources.base import FileTooLarge, PathEscape, SourceRefused
from kgflow.sources.changes import change_set, updated_manifest
from tests.contract import environment, implementations
from tests.s3_server import CREDENTIALS, s3_server

FILES = {"hr/memo.txt": b"Maria Lindqvist leads Project Falcon.", "sales/q3.md": b"# Q3\n\nRevenue grew.",
         "hr/.hidden.txt": b"an editor's temp file", "top.txt": b"at the root"}
BUCKET = "kgflow-docs"


@pytest.fixture(scope="module")
def s3_endpoint():
    mp = pytest.MonkeyPatch()
    for k, v in CREDENTIALS.items():
        mp.setenv(k, v)
    with s3_server(BUCKET) as url:
        yield url
    mp.undo()


class Store:
    """One source's backing store: write and delete documents, and the SourceConfig that reads it."""

    def __init__(self, kind: str, base: Path | str, endpoint: str | None = None, scheme: str = "") -> None:
        self.kind, self.base, self.endpoint, self.scheme = kind, base, endpoint, scheme

    def config(self, name: str = "docs", **kw) -> SourceConfig:
        if self.kind == "local":
            return SourceConfig(name=name, url=f"{self.scheme}://{self.base}" if self.scheme else str(self.base), **kw)
        return SourceConfig(name=name, url=f"s3://{self.base}", storage_options={"endpoint_url": self.endpoint},
                            **kw)

    def _fs(self):
        import fsspec

        return fsspec.filesystem("s3", endpoint_url=self.endpoint)

    def put(self, rel: str, data: bytes) -> None:
        if self.kind == "local":
            p = Path(self.base) / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        else:
            self._fs().pipe(f"{self.base}/{rel}", data)

    def delete(self, rel: str) -> None:
        if self.kind == "local":
            (Path(self.base) / rel).unlink()
        else:
            self._fs().rm(f"{self.base}/{rel}")


_counter = iter(range(10_000))


@pytest.fixture(params=implementations(SOURCES))
def store(request, tmp_path) -> Store:
    """A store holding FILES, read through the source kind named by the parameter (by a URL of its scheme)."""
    scheme = next(s for s in SOURCES.resolve(request.param).schemes if s != "*") \
        if "*" not in SOURCES.resolve(request.param).schemes else "s3"
    if environment(SOURCES, request.param, {"local": "local", "object_store": "s3"}) == "local":
        s = Store("local", tmp_path / "share", scheme=scheme if scheme not in ("", "file") else "")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        s = Store("s3", f"{BUCKET}/t{next(_counter)}/docs", endpoint)
    for rel, data in FILES.items():
        s.put(rel, data)
    return s


def _settings(tmp_path: Path, sources: list[SourceConfig] | None = None, **kw) -> Settings:
    return Settings(home=tmp_path / "kg", sources=sources or [], **kw)


def _source(store: Store, tmp_path: Path, **kw):
    config = store.config(**kw)
    src = open_source(config, _settings(tmp_path, [config]))
    src.check()
    return src


def test_a_source_lists_its_documents_with_size_version_and_department(store, tmp_path):
    listed = {e.rel: e for e in _source(store, tmp_path).list()}
    assert set(listed) == {"hr/memo.txt", "sales/q3.md", "top.txt"}
    memo = listed["hr/memo.txt"]
    assert memo.size == len(FILES["hr/memo.txt"]) and memo.version and memo.reason is None
    assert (memo.department, memo.acl) == ("hr", ("hr",))


def test_a_source_skips_hidden_files(store, tmp_path):
    assert not any(".hidden" in e.rel for e in _source(store, tmp_path).list())


def test_a_source_reads_a_document_as_bytes(store, tmp_path):
    assert _source(store, tmp_path).read("hr/memo.txt") == FILES["hr/memo.txt"]


def test_a_source_refuses_a_path_that_climbs_out_of_its_root(store, tmp_path):
    if store.kind == "local":
        store.put("../outside.txt", b"not yours")
    with pytest.raises(PathEscape):
        _source(store, tmp_path).read("../outside.txt")


def test_a_read_stops_at_the_byte_limit(store, tmp_path):
    with pytest.raises(FileTooLarge):
        _source(store, tmp_path).read("hr/memo.txt", max_bytes=10)


def test_a_document_s_version_changes_when_its_content_does(store, tmp_path):
    before = {e.rel: e.version for e in _source(store, tmp_path).list()}
    store.put("hr/memo.txt", b"Gabriela Santos now leads Project Falcon.")
    after = {e.rel: e.version for e in _source(store, tmp_path).list()}
    assert after["hr/memo.txt"] != before["hr/memo.txt"] and after["sales/q3.md"] == before["sales/q3.md"]


def test_a_fixed_department_source_assigns_every_document_to_it(store, tmp_path):
    listed = list(_source(store, tmp_path, department="legal").list())
    assert {(e.department, e.acl) for e in listed} == {("legal", ("legal",))}


def test_a_source_that_does_not_exist_is_refused_with_its_name(store, tmp_path):
    missing = Store(store.kind, tmp_path / "nothing" if store.kind == "local" else f"{BUCKET}/absent/x",
                    store.endpoint)
    with pytest.raises(SourceRefused, match="docs"):
        _source(missing, tmp_path)


def test_an_s3_key_that_shares_the_root_s_prefix_is_not_listed(s3_endpoint, tmp_path):
    store = Store("s3", f"{BUCKET}/prefix/docs", s3_endpoint)
    store.put("hr/a.txt", b"inside")
    Store("s3", f"{BUCKET}/prefix/docs-old", s3_endpoint).put("hr/b.txt", b"a sibling folder")
    assert [e.rel for e in _source(store, tmp_path).list()] == ["hr/a.txt"]


# --- sources side by side -----------------------------------------------------------------------------------


@pytest.fixture()
def two_sources(tmp_path, s3_endpoint):
    local = Store("local", tmp_path / "share")
    remote = Store("s3", f"{BUCKET}/pair{next(_counter)}", s3_endpoint)
    for st in (local, remote):
        for rel, data in FILES.items():
            st.put(rel, data)
    configs = [local.config("share"), remote.config("bucket")]
    s = _settings(tmp_path, configs)
    return s, local, remote


def _discover(s: Settings, manifest: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    sources = [open_source(c, s) for c in select_sources(s, source)]
    return change_set(sources, manifest)


def _published(s: Settings) -> pd.DataFrame:
    manifest = empty_frame("manifest")
    return updated_manifest(manifest, _discover(s, manifest), set(), "r1")


def test_the_same_path_in_two_sources_is_two_documents(two_sources):
    s, _, _ = two_sources
    changes = _discover(s, empty_frame("manifest"))
    memo = changes[changes["rel_path"] == "hr/memo.txt"]
    assert sorted(memo["source"]) == ["bucket", "share"] and memo["doc_id"].nunique() == 2


def test_removing_a_file_from_one_source_retires_only_that_document(two_sources):
    s, _, remote = two_sources
    manifest = _published(s)
    remote.delete("hr/memo.txt")
    changes = _discover(s, manifest)
    deleted = changes[changes["change"] == "deleted"]
    assert list(deleted["source"]) == ["bucket"] and len(deleted) == 1
    assert set(changes.loc[changes["change"] != "deleted", "change"]) == {"unchanged"}


def test_scanning_one_source_leaves_the_other_s_documents_alone(two_sources):
    s, local, _ = two_sources
    manifest = _published(s)
    local.delete("sales/q3.md")
    changes = _discover(s, manifest, source="bucket")
    assert set(changes["source"]) == {"bucket"} and "deleted" not in set(changes["change"])


def test_a_path_given_for_one_run_is_a_source_of_its_own(two_sources, tmp_path):
    s, _, _ = two_sources
    manifest = _published(s)
    extra = tmp_path / "one-off"
    (extra / "hr").mkdir(parents=True)
    (extra / "hr" / "note.txt").write_text("A note.")
    changes = _discover(s, manifest, source=str(extra))
    assert list(changes["change"]) == ["new"] and changes["source"].iloc[0].startswith("adhoc-")


def test_an_unknown_source_name_is_refused_naming_the_configured_ones(two_sources):
    s, _, _ = two_sources
    with pytest.raises(SourceRefused, match="share, bucket"):
        select_sources(s, "nosuch")


def test_an_s3_document_whose_etag_is_unchanged_is_not_read_again(two_sources, monkeypatch):
    s, _, _ = two_sources
    manifest = _published(s)
    from kgflow.sources.object_store import ObjectStoreSource

    def no_reads(self, rel):
        raise AssertionError(f"read {rel} although its ETag did not change")

    monkeypatch.setattr(ObjectStoreSource, "sha256", no_reads)
    assert set(_discover(s, manifest, source="bucket")["change"]) == {"unchanged"}
