from __future__ import annotations

import sys

import pytest

from console.commands.console_cmd import APP, free_port, streamlit_argv


def test_streamlit_is_served_headless_on_the_given_address():
    argv = streamlit_argv("127.0.0.1", 8765, None)
    assert argv[:5] == [sys.executable, "-m", "streamlit", "run", str(APP)]
    pairs = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert pairs["--server.headless"] == "true"
    assert pairs["--server.address"] == "127.0.0.1" and pairs["--server.port"] == "8765"
    assert pairs["--browser.gatherUsageStats"] == "false"
    assert "--secrets.files" not in pairs


def test_free_port_is_a_loopback_port():
    assert 0 < free_port("127.0.0.1") < 65536


def test_bad_config_exits_2_before_serving(tmp_path, capsys, monkeypatch):
    from console.cli import app

    served = []
    monkeypatch.setattr("os.execve", lambda *a: served.append(a))
    bad = tmp_path / "ganyun.yaml"
    bad.write_text("providers: [{name: x, driver: openstack, credentials: inline-secret}]\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        app(["--config", str(bad), "console", "--port", "0"])
    assert exit_info.value.code == 2
    out = capsys.readouterr()
    assert "credentials" in out.err and "Traceback" not in out.err
    assert "http://" not in out.out and not served


def test_good_config_prints_the_url_and_execs_streamlit(tmp_path, capsys, monkeypatch):
    from console.cli import app

    served = []
    side: list[list[str]] = []
    monkeypatch.setattr("os.execve", lambda path, argv, env: served.append((argv, env)))
    monkeypatch.setattr("console.commands.console_cmd.subprocess.Popen", lambda argv, **_kw: side.append(argv))
    good = tmp_path / "ganyun.yaml"
    good.write_text("database: sqlite:///c.db\n", encoding="utf-8")
    app(["--config", str(good), "console", "--port", "8799", "--metrics-port", "0"])  # returns: execve is replaced
    assert "http://127.0.0.1:8799/" in capsys.readouterr().out
    assert side and side[0][1:3] == ["-m", "console.metrics_server"]
    argv, env = served[0]
    assert "--server.port" in argv and env["GANYUN_CONFIG"] == str(good.resolve())
    assert (tmp_path / "c.db").exists()  # migrated before serving
