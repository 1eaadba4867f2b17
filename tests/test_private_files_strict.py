"""``private_files``' strict files (the team's users file and audit trail): always 0600, never
through a symlink, never another account's file, and replaced whole or not at all.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from segsync import private_files
from segsync.private_files import PrivateFileError, append_fd, read_strict, replace_file


def test_strict_append_is_0600_whatever_files_file_mode_says(tmp_path: Path) -> None:
    private_files.configure(file_mode=0o644)
    try:
        path = tmp_path / "new" / "audit.jsonl"
        os.close(append_fd(path, strict=True))
        plain = tmp_path / "plain.log"
        os.close(append_fd(plain))
    finally:
        private_files.configure()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(plain.stat().st_mode) & 0o644 == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_strict_append_narrows_our_wide_file_and_refuses_another_accounts(
    tmp_path: Path,
) -> None:
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes(b"")
    wide.chmod(0o644)
    os.close(append_fd(wide, strict=True))
    assert stat.S_IMODE(wide.stat().st_mode) == 0o600
    if os.geteuid() != 0:
        pytest.skip("giving a file to another account needs root")
    theirs = tmp_path / "theirs.jsonl"
    theirs.write_bytes(b"")
    os.chown(theirs, 65534, 65534)
    with pytest.raises(PrivateFileError, match="belongs to another account"):
        append_fd(theirs, strict=True)


def test_a_symlink_is_neither_read_appended_to_nor_replaced(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"theirs")
    link = tmp_path / "users.json"
    link.symlink_to(target)
    for attempt in (
        lambda: read_strict(link),
        lambda: append_fd(link, strict=True),
        lambda: replace_file(link, b"ours", strict=True),
    ):
        with pytest.raises(PrivateFileError, match="symbolic link"):
            attempt()
    assert target.read_bytes() == b"theirs"


def test_replace_file_writes_the_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    assert read_strict(path) is None
    replace_file(path, b"first", strict=True)
    replace_file(path, b"second", strict=True)
    assert read_strict(path) == b"second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["users.json"]
