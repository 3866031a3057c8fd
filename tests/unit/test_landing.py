"""The landing zone never leads outside its root, and every odd entry is a reasoned rejection."""

import os
from pathlib import Path

import pytest

from kgflow.sources.base import PathEscape, SourceRefused
from kgflow.sources.landing import check_source, open_under, walk
from kgflow.sources.policy import DepartmentPolicy, InvalidDepartment


def read_under(root: Path, rel: bytes, follow_symlinks: bool = False) -> bytes:
    with open_under(root, rel, follow_symlinks) as f:
        return f.read()


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    (tmp_path / "outside.txt").write_text("host secret")
    land = tmp_path / "landing"
    (land / "hr").mkdir(parents=True)
    (land / "hr" / "memo.txt").write_text("a memo")
    return land


def _entries(root: Path, **kw) -> dict[bytes, tuple[str | None, str | None]]:
    return {e.rel: (e.reason, e.detail) for e in walk(root, **kw)}


def test_symlink_out_of_the_root_is_rejected_without_naming_its_target(root):
    (root / "hr" / "passwd.txt").symlink_to(root.parent / "outside.txt")
    reason, detail = _entries(root)[b"hr/passwd.txt"]
    assert reason == "symlink" and "outside.txt" not in detail and str(root.parent) not in detail


def test_symlink_out_of_the_root_is_rejected_even_when_following_links(root):
    (root / "hr" / "passwd.txt").symlink_to(root.parent / "outside.txt")
    assert _entries(root, follow_symlinks=True)[b"hr/passwd.txt"][0] == "symlink"


def test_symlink_inside_the_root_is_not_followed_by_default(root):
    (root / "hr" / "alias.txt").symlink_to(root / "hr" / "memo.txt")
    assert _entries(root)[b"hr/alias.txt"][0] == "symlink"


def test_symlink_inside_the_root_is_followed_when_configured(root):
    (root / "hr" / "alias.txt").symlink_to(root / "hr" / "memo.txt")
    assert _entries(root, follow_symlinks=True)[b"hr/alias.txt"] == (None, None)
    assert read_under(root, b"hr/alias.txt", follow_symlinks=True) == b"a memo"


def test_dangling_symlink_is_a_quarantine_record(root):
    (root / "hr" / "gone.txt").symlink_to(root / "hr" / "nothing.txt")
    assert _entries(root)[b"hr/gone.txt"] == ("symlink", "dangling symbolic link")


def test_directory_symlink_out_of_the_root_is_never_walked(root):
    (root / "hr" / "etc").symlink_to(root.parent)
    assert not any(rel.startswith(b"hr/etc/") for rel in _entries(root))


def test_reading_refuses_a_path_that_climbs_out(root):
    with pytest.raises(PathEscape):
        read_under(root, b"../outside.txt")


def test_reading_refuses_a_file_swapped_for_a_symlink_after_discovery(root):
    (root / "hr" / "memo.txt").unlink()
    (root / "hr" / "memo.txt").symlink_to(root.parent / "outside.txt")
    with pytest.raises(PathEscape):
        read_under(root, b"hr/memo.txt")


def test_file_name_that_is_not_utf8_is_listed_not_a_crash(root):
    os.close(os.open(os.path.join(os.fsencode(root), b"hr/caf\xe9.txt"), os.O_CREAT | os.O_WRONLY, 0o644))
    assert b"hr/caf\xe9.txt" in _entries(root)


def test_fifo_is_unsupported_and_never_opened(root):
    os.mkfifo(root / "hr" / "pipe.txt")
    assert _entries(root)[b"hr/pipe.txt"][0] == "unsupported"


def test_forbidden_file_inside_the_root_is_rejected(root):
    assert _entries(root, forbidden=[root / "hr" / "memo.txt"])[b"hr/memo.txt"][0] == "forbidden"


def test_source_holding_kgflow_home_is_refused(tmp_path):
    (tmp_path / "home" / "secrets").mkdir(parents=True)
    with pytest.raises(SourceRefused):
        check_source(tmp_path, [tmp_path / "home" / "secrets"])


def test_source_inside_kgflow_state_is_refused(tmp_path):
    (tmp_path / "home" / "runs").mkdir(parents=True)
    with pytest.raises(SourceRefused):
        check_source(tmp_path / "home" / "runs", [tmp_path / "home" / "runs"])


def test_star_folder_is_never_a_department():
    with pytest.raises(InvalidDepartment):
        DepartmentPolicy().assign(["*", "memo.txt"])


def test_folder_names_are_lower_cased_departments():
    assert DepartmentPolicy().assign(["Finance", "memo.txt"]) == ("finance", ["finance"])
