from pathlib import Path

from kgflow.config import SourceConfig
from kgflow.schemas import empty_frame
from kgflow.sources.changes import change_set as _change_set
from kgflow.sources.changes import updated_manifest
from kgflow.sources.local import LocalSource
from kgflow.sources.policy import DepartmentPolicy


def change_set(land: Path, manifest, policy=None, **kw):
    """The landing folder as the one source "landing"."""
    source = LocalSource(SourceConfig(name="landing", url=str(land)), policy or DepartmentPolicy())
    return _change_set([source], manifest, **kw)


def _landing(tmp_path: Path) -> Path:
    land = tmp_path / "landing"
    (land / "hr").mkdir(parents=True)
    (land / "hr" / "a.txt").write_text("alpha")
    (land / "hr" / "b.txt").write_text("beta")
    (land / "top.md").write_text("# top")
    return land


def _publish(land: Path):
    changes = change_set(land, empty_frame("manifest"))
    return updated_manifest(empty_frame("manifest"), changes, set(), "r1")


def test_first_scan_sees_every_document_as_new(tmp_path):
    changes = change_set(_landing(tmp_path), empty_frame("manifest"))
    assert set(changes["change"]) == {"new"} and len(changes) == 3


def test_department_comes_from_the_top_folder(tmp_path):
    changes = change_set(_landing(tmp_path), empty_frame("manifest")).set_index("rel_path")
    assert changes.loc["hr/a.txt", "department"] == "hr"
    assert list(changes.loc["hr/a.txt", "acl"]) == ["hr"]


def test_root_files_are_private_by_default(tmp_path):
    changes = change_set(_landing(tmp_path), empty_frame("manifest")).set_index("rel_path")
    assert list(changes.loc["top.md", "acl"]) == []


def test_root_files_take_the_configured_root_department(tmp_path):
    policy = DepartmentPolicy(root_department="general")
    changes = change_set(_landing(tmp_path), empty_frame("manifest"), policy=policy).set_index("rel_path")
    assert list(changes.loc["top.md", "acl"]) == ["general"]


def test_only_configured_departments_are_public(tmp_path):
    policy = DepartmentPolicy(public_departments=frozenset({"hr"}))
    changes = change_set(_landing(tmp_path), empty_frame("manifest"), policy=policy).set_index("rel_path")
    assert list(changes.loc["hr/a.txt", "acl"]) == ["*"]


def test_edits_and_deletions_are_detected_by_content_hash(tmp_path):
    land = _landing(tmp_path)
    manifest = _publish(land)
    (land / "hr" / "a.txt").write_text("alpha v2")
    (land / "hr" / "b.txt").unlink()
    changes = change_set(land, manifest).set_index("rel_path", drop=False)
    kinds = dict(zip(changes["doc_id"], changes["change"], strict=True))
    assert sorted(kinds.values()) == ["changed", "deleted", "unchanged"]


def test_touching_a_file_without_changing_it_is_not_a_change(tmp_path):
    land = _landing(tmp_path)
    manifest = _publish(land)
    (land / "hr" / "a.txt").write_text("alpha")
    assert set(change_set(land, manifest)["change"]) == {"unchanged"}


def test_full_rebuild_treats_known_documents_as_changed(tmp_path):
    land = _landing(tmp_path)
    assert set(change_set(land, _publish(land), full_rebuild=True)["change"]) == {"changed"}


def test_max_documents_leaves_the_rest_pending_not_deleted(tmp_path):
    land = _landing(tmp_path)
    changes = change_set(land, empty_frame("manifest"), max_documents=1)
    assert list(changes["change"]) == ["new"]
