"""``segsync users``: the users file (0600, atomic, scrypt), and what the commands say."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from segsync.errors import ConfigError
from segsync.team.users import Role, UsersError, UsersFile, hash_password, verify_password
from tests.helpers import run_cli


def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    data = {
        "web": {"users_file": "team/users.json"},
        "journal": {"dir": str(tmp_path / "runs")},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_add_list_passwd_remove_through_the_cli(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    env = {"PW": "correct horse battery", "PW2": "another long secret"}
    added = run_cli(
        "users",
        "add",
        "alice",
        "--role",
        "operator",
        "--password-env",
        "PW",
        "--config",
        str(cfg),
        env=env,
    )
    assert added.returncode == 0, added.stderr
    users = tmp_path / "team" / "users.json"  # relative to the config file
    assert "Added alice (operator)" in added.stdout
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    text = users.read_text()
    assert "correct horse" not in text
    stored = json.loads(text)["users"][0]
    assert stored["password"].startswith("$scrypt$ln=15,r=8,p=1$")
    assert stored["role"] == "operator"

    again = run_cli(
        "users",
        "add",
        "ALICE",
        "--role",
        "viewer",
        "--password-env",
        "PW",
        "--config",
        str(cfg),
        env=env,
    )
    assert again.returncode == 2
    assert "There is already a user 'ALICE'" in again.stderr

    run_cli(
        "users",
        "add",
        "bob@example.org",
        "--role",
        "approver",
        "--password-env",
        "PW",
        "--config",
        str(cfg),
        env=env,
    )
    listed = run_cli("users", "list", "--json", "--config", str(cfg))
    assert [(u["name"], u["role"]) for u in json.loads(listed.stdout)["users"]] == [
        ("alice", "operator"),
        ("bob@example.org", "approver"),
    ]
    assert "scrypt" not in listed.stdout

    file = UsersFile(users)
    assert file.check("alice", env["PW"]) is not None
    changed = run_cli(
        "users", "passwd", "alice", "--password-env", "PW2", "--config", str(cfg), env=env
    )
    assert changed.returncode == 0, changed.stderr
    assert file.check("alice", env["PW"]) is None
    assert file.check("Alice", env["PW2"]).name == "alice"  # type: ignore[union-attr]
    assert stat.S_IMODE(users.stat().st_mode) == 0o600

    removed = run_cli("users", "remove", "alice", "--config", str(cfg))
    assert removed.returncode == 0 and "Removed alice" in removed.stdout
    assert file.find("alice") is None
    assert [u.name for u in file.users()] == ["bob@example.org"]
    missing = run_cli("users", "remove", "alice", "--config", str(cfg))
    assert missing.returncode == 2 and "There is no user 'alice'" in missing.stderr

    audit = run_cli("audit", "--json", "--config", str(cfg))
    actions = [(e["action"], e.get("user")) for e in json.loads(audit.stdout)["entries"]]
    assert actions == [
        ("user-add", "alice"),
        ("user-add", "bob@example.org"),
        ("user-passwd", "alice"),
        ("user-remove", "alice"),
    ]


def test_no_password_and_no_terminal_is_a_sentence_not_a_hang(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    result = run_cli("users", "add", "carol", "--role", "viewer", "--config", str(cfg))
    assert result.returncode == 2
    assert "there is no terminal to ask on" in result.stderr
    assert "--password-env" in result.stderr
    assert not (tmp_path / "team" / "users.json").exists()


def test_weak_password_bad_name_and_unknown_role_are_refused(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    short = run_cli(
        "users",
        "add",
        "dave",
        "--role",
        "viewer",
        "--password-env",
        "PW",
        "--config",
        str(cfg),
        env={"PW": "short"},
    )
    assert short.returncode == 2 and "too short" in short.stderr
    bad = run_cli(
        "users",
        "add",
        "../x",
        "--role",
        "viewer",
        "--password-env",
        "PW",
        "--config",
        str(cfg),
        env={"PW": "long enough pw"},
    )
    assert bad.returncode == 2 and "cannot be a user name" in bad.stderr
    role = run_cli(
        "users",
        "add",
        "dave",
        "--role",
        "root",
        "--password-env",
        "PW",
        "--config",
        str(cfg),
        env={"PW": "long enough pw"},
    )
    assert role.returncode == 2


def test_hashes_are_salted_and_carry_their_parameters() -> None:
    one, two = hash_password("same password"), hash_password("same password")
    assert one != two
    assert verify_password("same password", one) and verify_password("same password", two)
    assert not verify_password("other password", one)
    assert not verify_password("same password", "$scrypt$ln=99,r=8,p=1$AAAA$AAAA")


def test_a_symlink_in_place_of_the_users_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    link = tmp_path / "users.json"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"):
        UsersFile(link).add("erin", Role.VIEWER, "long enough pw")
    assert target.read_text() == "{}"


def test_a_damaged_users_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not json")
    os.close(fd)
    with pytest.raises(UsersError, match="is not a segsync users file"):
        UsersFile(path).users()
