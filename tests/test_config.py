"""SEGSYNC_* environment overrides: strings stay strings, typed settings are still typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from segsync.config import load_settings
from segsync.errors import ConfigError, SecretError


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("rate_limit:\n  burst: 2\n  requests_per_second: 3\ninput:\n  sheet: Edits\n")
    return path


def test_default_clear_marker_from_env_is_kept_as_text(config: Path) -> None:
    settings = load_settings(config, environ={"SEGSYNC_INPUT__CLEAR_MARKER": "#CLEAR"})
    assert settings.input.clear_marker == "#CLEAR"


@pytest.mark.parametrize("value", ["2024", "00123", " x ", "true", "null text", "[1]", "{a: 1}"])
def test_sheet_from_env_stays_exactly_the_given_string(config: Path, value: str) -> None:
    settings = load_settings(config, environ={"SEGSYNC_INPUT__SHEET": value})
    assert settings.input.sheet == value


def test_nested_path_setting_from_env(config: Path) -> None:
    settings = load_settings(config, environ={"SEGSYNC_API__PATHS__SEGMENT": "/v2/Segment/{id}"})
    assert settings.api.paths.segment == "/v2/Segment/{id}"


def test_numbers_and_booleans_from_env_are_typed(config: Path) -> None:
    settings = load_settings(
        config,
        environ={
            "SEGSYNC_RATE_LIMIT__REQUESTS_PER_SECOND": "5",
            "SEGSYNC_RATE_LIMIT__ADAPTIVE": "false",
            "SEGSYNC_SYNC__FORCE": "1",
            "SEGSYNC_INPUT__MAX_ROWS": "00100",
        },
    )
    assert settings.rate_limit.requests_per_second == 5.0
    assert settings.rate_limit.adaptive is False
    assert settings.sync.force is True
    assert settings.input.max_rows == 100


def test_env_names_are_case_insensitive(config: Path) -> None:
    settings = load_settings(config, environ={"segsync_rate_limit__burst": "7"})
    assert settings.rate_limit.burst == 7


def test_precedence_defaults_file_env_flags(config: Path) -> None:
    env = {"SEGSYNC_RATE_LIMIT__BURST": "4"}
    from_file = load_settings(config, environ={})
    assert (from_file.rate_limit.burst, from_file.rate_limit.max_concurrency) == (2, 4)
    from_env = load_settings(config, environ=env)
    assert from_env.rate_limit.burst == 4
    assert from_env.rate_limit.requests_per_second == 3.0  # file value untouched by env
    from_flags = load_settings(config, environ=env, overrides={"rate_limit.burst": 6})
    assert from_flags.rate_limit.burst == 6
    unset_flag = load_settings(config, environ=env, overrides={"rate_limit.burst": None})
    assert unset_flag.rate_limit.burst == 4


def test_empty_env_value_means_not_set(config: Path) -> None:
    settings = load_settings(
        config, environ={"SEGSYNC_INPUT__SHEET": "", "SEGSYNC_OUTPUT__DIR": ""}
    )
    assert settings.input.sheet == "Edits"
    assert settings.output.dir is None


def test_null_unsets_optional_settings_only(config: Path, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    config.write_text(f"api:\n  token_file: {secret}\ninput:\n  sheet: Edits\n")
    settings = load_settings(
        config,
        environ={
            "SEGSYNC_API__TOKEN_FILE": "null",
            "SEGSYNC_INPUT__SHEET": "null",
            "SEGSYNC_INPUT__CLEAR_MARKER": "null",
        },
    )
    assert load_settings(config, environ={}).api.token_file == secret
    assert settings.api.token_file is None
    assert settings.input.sheet is None
    assert settings.input.clear_marker == "null"  # a text-only setting keeps the text


def test_relative_path_from_env_is_relative_to_working_directory(config: Path) -> None:
    settings = load_settings(config, environ={"SEGSYNC_OUTPUT__DIR": "out"})
    assert settings.output.dir == Path("out")


def test_variables_without_nested_delimiter_are_ignored(config: Path) -> None:
    settings = load_settings(
        config, environ={"SEGSYNC_HOME": "/x", "SEGSYNC_API": "not json", "OTHER__X": "1"}
    )
    assert settings == load_settings(config, environ={})


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        (
            "SEGSYNC_RATE_LIMIT__RPS",
            r"SEGSYNC_RATE_LIMIT__RPS is not a known setting \(rate_limit\.rps\)",
        ),
        ("SEGSYNC_NOPE__X", r"SEGSYNC_NOPE__X is not a known setting"),
        ("SEGSYNC_INPUT__SHEET__X", r"SEGSYNC_INPUT__SHEET__X .*input\.sheet is a single setting"),
        ("SEGSYNC_API__PATHS", r"SEGSYNC_API__PATHS names the section api\.paths"),
        ("SEGSYNC___X", r"SEGSYNC___X is not a known setting"),
    ],
)
def test_unknown_env_setting_is_an_error_naming_the_variable(
    config: Path, name: str, pattern: str
) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        load_settings(config, environ={name: "3"})
    assert not isinstance(info.value, SecretError)


@pytest.mark.parametrize(
    "name",
    ["SEGSYNC_API__TOKEN", "SEGSYNC_API__API_TOKEN", "segsync_api__bearer", "SEGSYNC_PASSWORD__X"],
)
def test_token_in_env_key_is_refused_without_echoing_it(config: Path, name: str) -> None:
    value = "tok-Sup3rS3cret-9f8e7d6c5b4a"
    with pytest.raises(SecretError, match="RAISE_API_TOKEN") as info:
        load_settings(config, environ={name: value})
    assert name in str(info.value)
    assert value not in str(info.value) and value not in repr(info.value)


def test_token_looking_token_env_from_env_is_refused(config: Path) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"
    with pytest.raises(SecretError, match="looks like a token") as info:
        load_settings(config, environ={"SEGSYNC_API__TOKEN_ENV": jwt})
    assert jwt not in str(info.value)


def test_invalid_env_values_name_their_variables(config: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            config,
            environ={
                "SEGSYNC_RATE_LIMIT__BURST": "0",
                "SEGSYNC_RATE_LIMIT__ADAPTIVE": "maybe",
                "SEGSYNC_OUTPUT__FORMAT": "pdf",
            },
        )
    message = str(info.value)
    assert "SEGSYNC_RATE_LIMIT__BURST: Input should be greater than or equal to 1" in message
    assert "SEGSYNC_RATE_LIMIT__ADAPTIVE: Input should be a valid boolean" in message
    assert "SEGSYNC_OUTPUT__FORMAT: Input should be 'xlsx' or 'csv'" in message
    assert "maybe" not in message and "pdf" not in message
    assert "validation error" not in message  # a sentence, not a pydantic dump
    assert message.endswith(".")


def test_same_setting_in_two_spellings_is_an_error(config: Path) -> None:
    with pytest.raises(ConfigError, match=r"both set rate_limit\.burst"):
        load_settings(
            config, environ={"SEGSYNC_RATE_LIMIT__BURST": "2", "segsync_rate_limit__burst": "3"}
        )


def test_environ_defaults_to_os_environ(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGSYNC_INPUT__SHEET", "2024")
    assert load_settings(config).input.sheet == "2024"
