"""The command line: flags, environment variables, start-up line, logs and clean stops."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gmi_emulator.testing import (
    PACKAGE_PARENT,
    EmulatorClient,
    EmulatorError,
    EmulatorProcess,
    make_test_certificate,
)

FLAGS = [
    "--host",
    "--port",
    "--api-key",
    "--queue-seconds",
    "--processing-seconds",
    "--media-dir",
    "--fail-rate",
    "--stuck-rate",
    "--cancel-rate",
    "--error-rate",
    "--rate-limit",
    "--rate-window",
    "--latency",
    "--seed",
    "--outcome-style",
    "--list-limit",
    "--error-style",
    "--wrap-bad-request-in-500",
    "--wrapped-error-shape",
    "--tls-cert",
    "--tls-key",
]


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT}
    return subprocess.run(
        [sys.executable, "-m", "gmi_emulator", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_help_lists_every_flag_with_its_environment_variable_and_default() -> None:
    result = _run_cli("--help")

    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for flag in FLAGS:
        assert flag in text
        assert "GMI_EMULATOR_" + flag[2:].replace("-", "_").upper() in text
    assert "default: 8765" in text
    assert "default: 127.0.0.1" in text
    assert "default: 6.0" in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fail-rate", "2"], "not between 0 and 1"),
        (["--outcome-style", "odd"], "invalid choice"),
        (["--port", "-1"], "--port must be between"),
        (["--error-style", "odd"], "invalid choice"),
        (["--wrapped-error-shape", "odd"], "invalid choice"),
        (["--wrap-bad-request-in-500", "maybe"], "is not true or false"),
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key must be given together"),
        (["--tls-key", "key.pem"], "--tls-cert and --tls-key must be given together"),
        (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"], "no such file"),
    ],
)
def test_invalid_flags_are_refused_at_start_up(args: list[str], words: str) -> None:
    result = _run_cli(*args)

    assert result.returncode == 2
    assert "error" in result.stderr
    assert words in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GMI_EMULATOR_ERROR_STYLE", "loud"),
        ("GMI_EMULATOR_WRAP_BAD_REQUEST_IN_500", "perhaps"),
        ("GMI_EMULATOR_WRAPPED_ERROR_SHAPE", "square"),
    ],
)
def test_invalid_environment_values_are_refused_at_start_up(variable: str, value: str) -> None:
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT, variable: value}
    result = subprocess.run([sys.executable, "-m", "gmi_emulator"], capture_output=True, text=True, env=env, timeout=60)

    assert result.returncode == 2
    assert value in result.stderr


def test_a_key_that_does_not_match_the_certificate_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    cert, _, _ = make_test_certificate(tmp_path / "one")
    _, other_key, _ = make_test_certificate(tmp_path / "two")

    result = _run_cli("--port", "0", "--tls-cert", str(cert), "--tls-key", str(other_key))

    assert result.returncode == 1
    assert f"error: cannot use --tls-cert {cert} / --tls-key {other_key}" in result.stderr
    assert result.stdout == ""


def test_the_tls_certificate_and_key_come_from_the_environment(tmp_path: Path) -> None:
    cert, key, ca = make_test_certificate(tmp_path)
    env = {"GMI_EMULATOR_TLS_CERT": str(cert), "GMI_EMULATOR_TLS_KEY": str(key)}

    with EmulatorProcess(env=env) as emu:
        assert emu.root_url.startswith("https://127.0.0.1:")
        response = requests.get(emu.base_url + "/models", headers=emu.auth_headers, timeout=10, verify=str(ca))
        assert response.status_code == 200


def test_environment_variables_set_the_config_and_flags_win() -> None:
    env = {
        "GMI_EMULATOR_QUEUE_SECONDS": "2.5",
        "GMI_EMULATOR_PROCESSING_SECONDS": "4",
        "GMI_EMULATOR_LATENCY": "0.01",
        "GMI_EMULATOR_OUTCOME_STYLE": "live",
        "GMI_EMULATOR_FAIL_RATE": "0.25",
        "GMI_EMULATOR_ERROR_RATE": "0.1",
        "GMI_EMULATOR_RATE_LIMIT": "1000",
        "GMI_EMULATOR_API_KEY": "key-from-env",
        "GMI_EMULATOR_ERROR_STYLE": "detail",
        "GMI_EMULATOR_WRAP_BAD_REQUEST_IN_500": "true",
        "GMI_EMULATOR_WRAPPED_ERROR_SHAPE": "nested",
    }
    with EmulatorProcess(api_key=None, env=env, processing_seconds=7) as emu:
        config = emu.state()["config"]
        assert config["queue_seconds"] == 2.5
        assert config["processing_seconds"] == 7  # the flag wins over the environment
        assert config["latency"] == 0.01
        assert config["outcome_style"] == "live"
        assert config["fail_rate"] == 0.25
        assert config["error_rate"]["get_model"] == 0.1
        assert config["rate_limit"] == 1000
        assert config["error_style"] == "detail"
        assert config["wrap_bad_request_in_500"] is True
        assert config["wrapped_error_shape"] == "nested"
        assert emu.api_key == "key-from-env"
        ok = requests.get(emu.base_url + "/models", headers={"Authorization": "Bearer key-from-env"}, timeout=10)
        assert ok.status_code in (200, 500, 502, 503)
        refused = requests.get(emu.base_url + "/models", headers={"Authorization": "Bearer test-key"}, timeout=10)
        assert refused.status_code in (401, 500, 502, 503)


def test_the_host_and_port_come_from_the_environment() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with EmulatorProcess(
        port=None, host=None, env={"GMI_EMULATOR_PORT": str(port), "GMI_EMULATOR_HOST": "127.0.0.1"}
    ) as emu:
        assert emu.root_url == f"http://127.0.0.1:{port}"


def test_it_prints_exactly_one_listening_line_and_never_logs_the_key() -> None:
    secret = "sk-very-secret-0123456789"
    emu = EmulatorProcess(api_key=secret)
    with emu:
        client = EmulatorClient(emu)
        request_id = client.submit(prompt="log me")
        client.status(request_id)
        requests.get(emu.base_url + "/models", headers={"Authorization": "Bearer sk-wrong-guess"}, timeout=10)
        client.close()
    assert len(emu.stdout_lines) == 1
    assert re.fullmatch(r"GMI emulator listening on http://127\.0\.0\.1:\d+/api/v1/apikey\n", emu.stdout_lines[0])
    assert "POST /api/v1/apikey/requests" in emu.stderr_tail  # requests are logged...
    assert secret not in emu.stderr_tail and "sk-wrong-guess" not in emu.stderr_tail  # ...keys never
    assert "Authorization" not in emu.stderr_tail


def test_sigterm_stops_it_cleanly_and_removes_its_temporary_media_directory() -> None:
    emu = EmulatorProcess().start()
    deadline = time.monotonic() + 10
    while not (match := re.search(r"media directory: (\S+)", emu.stderr_tail)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert match, emu.stderr_tail
    media = Path(match.group(1))
    assert media.is_dir()

    code = emu.stop()

    assert code == 0
    assert not media.exists()


def test_a_given_media_directory_is_kept(tmp_path: Path) -> None:
    media = tmp_path / "kept"
    with EmulatorProcess(media_dir=media, queue_seconds=0, processing_seconds=0) as emu:
        client = EmulatorClient(emu)
        request_id = client.submit(prompt="keep me", aspect_ratio="1:1")
        assert client.wait_until(request_id)["status"] == "success"
        client.close()

    assert sorted(p.name for p in media.iterdir()) == [f"{request_id}.jpg", f"{request_id}.mp4"]


def test_a_start_up_failure_is_reported_with_the_emulators_stderr() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmulatorError, match="Address already in use"):
            EmulatorProcess(port=port).start()
