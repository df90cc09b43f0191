"""Settings from a TOML file, overridden by LOADBAY_<SECTION>__<KEY> variables."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from loadbay.config import STORE_NAMES, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LOADBAY_* variable of the machine running the tests leaks into them."""
    for name in list(os.environ):
        if name.upper().startswith("LOADBAY_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "loadbay.toml"
    path.write_text(text, "utf-8")
    return path


def test_defaults_need_nothing() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("./.loadbay")
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8000
    assert settings.limits.max_upload_bytes == 1_073_741_824
    assert settings.limits.link_ttl_seconds == 86_400
    assert settings.limits.link_ttl_max_seconds == 604_800
    assert settings.scanner.backend == "none"
    assert settings.scanner.required is True
    assert settings.executor.backend == "inprocess"
    assert settings.executor.concurrency == 2
    assert settings.exports.ttl_hours == 72
    assert settings.security.secret_key == ""
    assert settings.auth.tokens == []
    assert settings.public_url == "http://127.0.0.1:8000"


def test_chunks_default_to_32_mib_and_to_whole_files_on_sqlite(tmp_path: Path) -> None:
    executor = load_settings().executor
    assert executor.chunk_size(sqlite_target=False) == 32 * 1024 * 1024
    whole = executor.chunk_size(sqlite_target=True)
    assert whole > 1 << 40, "one chunk, whatever the file"
    configured = load_settings(write(tmp_path, "[executor]\nchunk_bytes = 4096\n")).executor
    assert configured.chunk_size(sqlite_target=True) == 4096, "a set size applies everywhere"
    assert configured.chunk_size(sqlite_target=False) == 4096


def test_values_come_from_the_toml_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
data_dir = "{tmp_path / "data"}"

[server]
host = "0.0.0.0"
port = 9000
public_url = "https://loadbay.example.org/"

[database]
url = "postgresql+psycopg://db/loadbay"

[limits]
max_upload_bytes = 5000
link_ttl_seconds = 60

[datasets]
dir = "/etc/loadbay/datasets"

[scanner]
backend = "clamd"
url = "tcp://127.0.0.1:3310"
required = false

[stores.results]
url = "s3://bucket/results"
endpoint = "http://127.0.0.1:9000"
allow_http = true

[executor]
backend = "celery"
broker_url = "redis://localhost"
concurrency = 8

[exports]
ttl_hours = 0.5

[[auth.tokens]]
token = "s3cret-alice"
user = "alice"
tenant = "acme"
roles = ["user"]
""",
    )
    settings = load_settings(path)
    assert settings.data_dir == tmp_path / "data"
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9000)
    assert settings.public_url == "https://loadbay.example.org"
    assert settings.database_url == "postgresql+psycopg://db/loadbay"
    assert settings.limits.max_upload_bytes == 5000
    assert settings.limits.link_ttl_seconds == 60
    assert settings.limits.link_ttl_max_seconds == 604_800  # not in the file: default
    assert settings.datasets.dir == "/etc/loadbay/datasets"
    assert (settings.scanner.backend, settings.scanner.required) == ("clamd", False)
    assert settings.store_url("results") == "s3://bucket/results"
    assert settings.store_options("results") == {
        "endpoint": "http://127.0.0.1:9000",
        "allow_http": True,
    }
    assert settings.store_options("incoming") == {}
    assert settings.executor.concurrency == 8
    assert settings.exports.ttl_hours == 0.5
    assert len(settings.auth.tokens) == 1
    token = settings.auth.tokens[0]
    assert (token.token, token.user, token.tenant, token.roles) == (
        "s3cret-alice",
        "alice",
        "acme",
        ["user"],
    )


def test_the_config_path_may_come_from_loadbay_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "[server]\nport = 9100\n")
    monkeypatch.setenv("LOADBAY_CONFIG", str(path))
    assert load_settings().server.port == 9100


def test_environment_overrides_the_file_and_keeps_its_other_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "[limits]\nmax_upload_bytes = 5000\nlink_ttl_seconds = 60\nlink_ttl_max_seconds = 600\n"
        "[server]\nport = 9000\n",
    )
    monkeypatch.setenv("LOADBAY_LIMITS__MAX_UPLOAD_BYTES", "123456")
    settings = load_settings(path)
    assert settings.limits.max_upload_bytes == 123_456
    assert settings.limits.link_ttl_seconds == 60
    assert settings.limits.link_ttl_max_seconds == 600
    assert settings.server.port == 9000


def test_environment_sets_a_key_the_file_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n")
    monkeypatch.setenv("LOADBAY_SERVER__HOST", "0.0.0.0")
    monkeypatch.setenv("LOADBAY_SCANNER__REQUIRED", "false")
    settings = load_settings(path)
    assert settings.server.host == "0.0.0.0"
    assert settings.server.port == 9000
    assert settings.scanner.required is False


def test_environment_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADBAY_LIMITS__MAX_UPLOAD_BYTES", "42")
    settings = load_settings()
    assert settings.limits.max_upload_bytes == 42
    assert settings.limits.link_ttl_seconds == 86_400


def test_a_bad_environment_value_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOADBAY_LIMITS__MAX_UPLOAD_BYTES", "lots")
    with pytest.raises(ValidationError, match="max_upload_bytes"):
        load_settings(write(tmp_path, ""))


def test_explicit_overrides_beat_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[server]\nport = 9000\nhost = "10.0.0.1"\n')
    monkeypatch.setenv("LOADBAY_SERVER__PORT", "9001")
    settings = load_settings(path, server__port=9002, executor__concurrency=None)
    assert settings.server.port == 9002
    assert settings.server.host == "10.0.0.1"
    assert settings.executor.concurrency == 2  # None means: not given


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[limits]\nmax_upload_byte = 5\n", "max_upload_byte"),
        ("[server]\nprot = 1\n", "prot"),
        ('[scanner]\nbackend = "none"\nrequird = true\n', "requird"),
        ("[executor]\nworkers = 3\n", "workers"),
        ("[unknown_section]\nx = 1\n", "unknown_section"),
        ('datadir = "x"\n', "datadir"),
        ('[[auth.tokens]]\ntoken = "long-enough"\nuser = "u"\nrole = "admin"\n', "role"),
    ],
)
def test_unknown_keys_are_errors(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        load_settings(write(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        "[server]\nport = 70000\n",
        "[limits]\nmax_upload_bytes = 0\n",
        "[executor]\nconcurrency = 0\n",
        "[exports]\nttl_hours = 0\n",
        '[[auth.tokens]]\ntoken = "short"\nuser = "u"\n',
        '[[auth.tokens]]\ntoken = "long-enough"\nuser = ""\n',
    ],
)
def test_out_of_range_values_are_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValidationError):
        load_settings(write(tmp_path, text))


def test_an_unknown_store_name_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[stores.resluts]\nurl = "s3://bucket"\n')
    with pytest.raises(ValidationError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "resluts" in message
    assert "results" in message  # the known names are listed


@pytest.mark.parametrize("name", STORE_NAMES)
def test_every_contract_store_name_is_accepted(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'[stores.{name}]\nurl = "memory://{name}"\n')
    assert load_settings(path).store_url(name) == f"memory://{name}"


def test_store_urls_default_inside_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.store_url("results") == (tmp_path / "stores" / "results").as_uri()
    assert settings.database_url == f"sqlite:///{tmp_path / 'loadbay.sqlite'}"
    assert settings.target_url == f"sqlite:///{tmp_path / 'target.sqlite'}"
    assert set(STORE_NAMES) == {"incoming", "permanent", "quarantine", "results", "exports", "work"}


def test_secret_key_may_be_one_string(tmp_path: Path) -> None:
    path = write(tmp_path, '[security]\nsecret_key = "only-one"\n')
    assert load_settings(path).security.secret_key == "only-one"


def test_secret_key_may_be_a_list_for_rotation(tmp_path: Path) -> None:
    path = write(tmp_path, '[security]\nsecret_key = ["new-key", "old-key"]\n')
    assert load_settings(path).security.secret_key == ["new-key", "old-key"]


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "nope.toml")


def test_invalid_toml_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(tomllib.TOMLDecodeError):
        load_settings(write(tmp_path, "[server\nport = 1\n"))
