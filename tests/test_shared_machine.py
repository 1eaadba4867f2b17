"""A shared machine: another local account tries to take over the run lock, plant symlinks,
or pass its own text off as the holder of the lock; and every file a run writes is private.

The attacker is a second OS account (``segsync-other``, created once with ``useradd``), whose
steps run through ``setpriv --reuid/--regid --clear-groups``; the victim is this test process,
root, the account for which a followed symlink does the most damage. A world-writable sticky
folder stands in for /tmp. Without root (or without useradd/setpriv) these tests skip, loudly.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from segsync import private_files
from segsync.api.session import normalise_base_url
from segsync.engine.runlock import RunLock
from segsync.errors import RunLockedError, UnsafeFolderError
from tests.helpers import run_cli, write_config, write_csv

OTHER = "segsync-other"
FORGED = "run FORGED-BY-ANOTHER-ACCOUNT"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """``argv`` as this account (no supplementary groups), checked."""
        command = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
        return subprocess.run(
            [*command, *argv], check=True, capture_output=True, text=True, timeout=30
        )

    def start(self, *argv: str) -> subprocess.Popen[str]:
        command = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
        return subprocess.Popen(
            [*command, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


@pytest.fixture(scope="session")
def other() -> Account:
    """The second account, created once (or a loud skip where that cannot be done)."""
    if os.geteuid() != 0:
        pytest.skip(
            "SKIPPED: the shared-machine tests need root to create a second OS account and run "
            "as it (run the suite as root, as CI does)"
        )
    for tool in ("useradd", "setpriv", "flock"):
        if shutil.which(tool) is None:
            pytest.skip(f"SKIPPED: the shared-machine tests need {tool} (util-linux / passwd)")
    try:
        entry = pwd.getpwnam(OTHER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER],
            capture_output=True,
            text=True,
        )
        if made.returncode not in (0, 9):  # 9: made meanwhile by another test process
            pytest.skip(f"SKIPPED: useradd {OTHER} failed: {made.stderr.strip()}")
        entry = pwd.getpwnam(OTHER)
    return Account(OTHER, entry.pw_uid, entry.pw_gid)


@pytest.fixture
def shared_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A sticky world-writable folder (like /tmp) that this process uses as its temp folder
    (made after ``tmp_path``, so pytest's own temp folder stays where it was)."""
    folder = Path(tempfile.mkdtemp(prefix="segsync-shared-", dir="/tmp"))
    os.chmod(folder, 0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def snapshot(folder: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry under ``folder`` (symlinks not followed): its mode and its content/target."""
    seen: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            seen[str(path)] = (info.st_mode, os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            seen[str(path)] = (info.st_mode, path.read_bytes())
        else:
            seen[str(path)] = (info.st_mode, "")
    return seen


def sync_in(sandbox: Any, tmp_path: Path) -> Any:
    """A real sync of three renames against ``sandbox``, as the victim."""
    rows = [[s["id"], f"{s['name']} V"] for s in sandbox.segments()[:3]]
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name"], rows)
    config = write_config(sandbox, tmp_path)
    return run_cli("sync", str(sheet), "--config", str(config), cwd=tmp_path)


# -- the lock folder, taken first by another account ---------------------------------------------


def test_a_lock_folder_another_account_made_first_is_refused(
    other: Account, shared_tmp: Path, sandbox: Any, tmp_path: Path
) -> None:
    """The review's attack: the folder made first, a forged holder, planted symlinks, a held
    flock. The run is refused with a sentence naming the folder, nothing is sent, nothing of
    the attacker's is shown, and the file the symlinks point at is untouched."""
    victim_file = tmp_path / "precious.txt"
    victim_file.write_text("mine\n", encoding="utf-8")
    mine = shared_tmp / f"segsync-{os.geteuid()}"
    locks = mine / "locks"
    other.run("mkdir", "-m", "0777", str(mine), str(locks))
    key = RunLock(normalise_base_url(sandbox.base_url), folder=tmp_path / "probe").path.stem
    forged = {
        "run_id": FORGED,
        "pid": 1,
        "command": "sync",
        "started_at": "2026-01-01T00:00:00+00:00",
        "user": "attacker",
        "target": "x",
    }
    other.run("sh", "-c", f"printf '%s' '{json.dumps(forged)}' > {locks}/{key}.json")
    for pid in range(os.getpid(), os.getpid() + 50):
        other.run("ln", "-s", str(victim_file), f"{locks}/{key}.{pid}.tmp")
    # the attacker holds the flock of the lock file the victim's run would take
    other.run("touch", f"{locks}/{key}.lock")
    holder = other.start("flock", "--exclusive", f"{locks}/{key}.lock", "sleep", "60")
    try:
        before = snapshot(mine)
        result = sync_in(sandbox, tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"segsync: segsync will not keep its private files in {mine}")
    assert f"it belongs to another account (uid {other.uid})" in result.stderr
    assert "nothing was sent" in result.stderr
    assert FORGED not in result.stderr + result.stdout and "attacker" not in result.stderr
    assert sandbox.counters.snapshot().count("PUT") == 0
    assert victim_file.read_text(encoding="utf-8") == "mine\n"
    assert snapshot(mine) == before  # nothing created, changed or removed in theirs


def test_a_symlinked_lock_folder_is_refused_and_its_target_untouched(
    other: Account, shared_tmp: Path, sandbox: Any, tmp_path: Path
) -> None:
    """A symlink at the folder's name, pointing into a folder of the victim's: refused; no
    ``locks`` folder or lock file appears where it points."""
    victim_dir = tmp_path / "victims-own"
    victim_dir.mkdir(mode=0o700)
    (victim_dir / "notes.txt").write_text("mine\n", encoding="utf-8")
    mine = shared_tmp / f"segsync-{os.geteuid()}"
    other.run("ln", "-s", str(victim_dir), str(mine))
    before = snapshot(victim_dir)
    result = sync_in(sandbox, tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"private files in {mine}: it is a symbolic link" in result.stderr
    assert sandbox.counters.snapshot().count("PUT") == 0
    assert snapshot(victim_dir) == before


def test_an_xdg_runtime_dir_of_another_account_is_avoided(
    other: Account, shared_tmp: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Any, tmp_path: Path
) -> None:
    """``XDG_RUNTIME_DIR`` naming someone else's folder is not used: the run falls back to its
    own checked folder in the temp folder, and writes nothing into theirs."""
    theirs = shared_tmp / "their-runtime"
    other.run("mkdir", "-m", "0700", str(theirs))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(theirs))
    result = sync_in(sandbox, tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(theirs.iterdir()) == []
    mine = shared_tmp / f"segsync-{os.geteuid()}"
    assert stat.S_IMODE(mine.lstat().st_mode) == 0o700
    assert stat.S_IMODE((mine / "locks").lstat().st_mode) == 0o700
    assert sandbox.counters.snapshot().count("PUT") == 3


def test_a_holder_file_of_another_account_is_never_shown(other: Account, tmp_path: Path) -> None:
    """Inside the victim's own folder (which only root could reach), a holder file owned by
    someone else is not read: a held lock is described without its text."""
    folder = tmp_path / "locks"
    lock = RunLock("https://api.example.org", folder=folder)
    lock.acquire("20260101-000000-real", "sync")
    try:
        forged = {"run_id": FORGED, "pid": 1, "command": "sync", "started_at": "x", "user": "a"}
        lock.info_path.write_text(json.dumps({**forged, "target": "t"}), encoding="utf-8")
        os.chown(lock.info_path, other.uid, other.gid)
        second = RunLock("https://api.example.org", folder=folder)
        with pytest.raises(RunLockedError) as refused:
            second.acquire("20260101-000001-second", "sync")
        assert FORGED not in str(refused.value)
        assert str(refused.value).startswith("another segsync run is already writing")
        assert second.holder() is None
    finally:
        lock.release()


# -- files created without following symlinks --------------------------------------------------


def test_a_planted_symlink_is_never_written_through(other: Account, tmp_path: Path) -> None:
    """A symlink at a name segsync creates (O_EXCL|O_NOFOLLOW): the create fails, the file it
    points to keeps its content; a symlink at the holder's name is replaced, not followed."""
    precious = tmp_path / "precious.txt"
    precious.write_text("mine\n", encoding="utf-8")
    planted = tmp_path / "new.json"
    planted.symlink_to(precious)
    with pytest.raises(FileExistsError), private_files.create_file(planted) as handle:
        handle.write(b"overwritten")
    folder = tmp_path / "locks"
    lock = RunLock("sandbox:x", folder=folder)
    lock.info_path.symlink_to(precious)
    lock.acquire("20260101-000000-real", "sync")
    try:
        assert precious.read_text(encoding="utf-8") == "mine\n"
        assert not lock.info_path.is_symlink()
        assert lock.holder() is not None and lock.holder().run_id == "20260101-000000-real"  # type: ignore[union-attr]
    finally:
        lock.release()


def test_a_private_folder_refuses_one_open_to_others(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, 0o755)
    with pytest.raises(UnsafeFolderError, match=r"others may use it \(mode 0755, not 0700\)"):
        private_files.private_dir(folder)


# -- the modes of what a run writes --------------------------------------------------------------


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def test_everything_a_run_writes_is_private(sandbox: Any, tmp_path: Path) -> None:
    """Under the usual umask 022: journal, results, report, plan, log and the sandbox database
    are 0600, the folders made for them 0700 (what the README lists)."""
    rows = [[s["id"], f"{s['name']} M"] for s in sandbox.segments()[:2]]
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name"], rows)
    out = tmp_path / "made" / "out"
    config = write_config(
        sandbox,
        tmp_path,
        journal={"dir": str(tmp_path / "made" / "runs")},
        output={"dir": str(out)},
        logging={"file": str(tmp_path / "made" / "logs" / "segsync.log")},
    )
    with umask(0o022):
        plan = run_cli("plan", str(sheet), "--config", str(config), "--out", str(out / "p.json"))
        assert plan.returncode == 0, plan.stderr
        done = run_cli(
            "apply", str(out / "p.json"), "--config", str(config), "--report", str(out / "r.html")
        )
        assert done.returncode == 0, done.stderr
    made = tmp_path / "made"
    files = [p for p in made.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".json", ".xlsx", ".html", ".jsonl", ".log"} <= kinds, files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in [made, *(p for p in made.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_the_sandbox_database_is_private(tmp_path: Path) -> None:
    from segsync.sandbox.store import SegmentStore

    with umask(0o022):
        store = SegmentStore(tmp_path / "db" / "sandbox.sqlite3")
        store.close()
    assert stat.S_IMODE((tmp_path / "db").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "db" / "sandbox.sqlite3").stat().st_mode) == 0o600


def test_the_config_may_widen_the_modes(sandbox: Any, tmp_path: Path) -> None:
    rows = [[s["id"], f"{s['name']} W"] for s in sandbox.segments()[:1]]
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name"], rows)
    out = tmp_path / "shared"
    config = write_config(
        sandbox, tmp_path, output={"dir": str(out)}, files={"file_mode": "640", "dir_mode": "750"}
    )
    try:
        with umask(0o022):
            done = run_cli("sync", str(sheet), "--config", str(config))
        assert done.returncode == 0, done.stderr
        (results,) = out.glob("*.xlsx")
        assert stat.S_IMODE(results.stat().st_mode) == 0o640
        assert stat.S_IMODE(out.stat().st_mode) == 0o750
    finally:
        private_files.configure()
