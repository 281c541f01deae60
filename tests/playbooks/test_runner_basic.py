"""playbooks/runner.py against real ansible-playbook on localhost: stats, stages, failures,
no_log and secret masking, missing playbooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playbooks import runner
from providers.errors import PlaybookError

pytestmark = pytest.mark.xdist_group("runner")

SECRET = "s3cr3t-Pa55w0rd-9f1c"

PLAYBOOK = """
- name: runner test
  hosts: "{{ target_hosts | default([]) }}"
  gather_facts: false
  tasks:
    - name: "[prepare] say hello"
      ansible.builtin.debug: {msg: "hello {{ who }}"}
    - name: "[prepare] change something"
      ansible.builtin.command: "true"
      changed_when: true
    - name: "[secret] hidden result"
      ansible.builtin.debug: {msg: "token {{ token }}"}
      no_log: true
    - name: "[secret] leaky result"
      ansible.builtin.debug: {msg: "token again {{ token }}"}
    - name: "[finish] maybe fail"
      ansible.builtin.fail: {msg: "asked to fail"}
      when: fail_now | default(false) | bool
"""


@pytest.fixture(scope="module")
def playbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pb") / "test.yml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    return path


def test_successful_run_reports_stats_stages_and_masks_secrets(playbook: Path) -> None:
    seen: list[runner.RunEvent] = []
    result = runner.run(
        playbook,
        {"target_hosts": "localhost", "who": "赣州", "token": SECRET},
        on_event=seen.append,
        secret_vars=["token"],
    )
    assert result.ok and result.rc == 0 and result.status == "successful"
    assert result.stats["localhost"]["changed"] == 1
    assert result.stats["localhost"]["ok"] == 4
    assert result.stats["localhost"]["skipped"] == 1
    stages = [e.stage for e in result.events if e.event == "runner_on_ok"]
    assert stages == ["prepare", "prepare", "secret", "secret"]
    assert next(e.task for e in seen if e.event == "runner_on_ok") == "say hello"
    assert any("hello 赣州" in e.msg for e in result.events)
    dumped = json.dumps(result.to_dict(), ensure_ascii=False)
    assert SECRET not in dumped
    assert runner.MASK in dumped  # the leaky task's output was masked, not dropped


def test_failed_run_and_hosts_default_to_nothing(playbook: Path) -> None:
    failed = runner.run(playbook, {"target_hosts": "localhost", "who": "x", "token": "t", "fail_now": True})
    assert not failed.ok and failed.rc != 0 and failed.status == "failed"
    assert failed.stats["localhost"]["failures"] == 1
    assert "asked to fail" in failed.failure()
    nothing = runner.run(playbook, {"who": "x", "token": "t"})
    assert nothing.stats == {} or all(v["ok"] == 0 for v in nothing.stats.values())
    assert not [e for e in nothing.events if e.event == "runner_on_ok"]


def test_missing_playbook_is_a_playbook_error() -> None:
    with pytest.raises(PlaybookError):
        runner.run("no_such_playbook.yml")


def test_to_event_drops_no_log_results() -> None:
    raw = {
        "event": "runner_on_ok",
        "created": "2026-01-01T00:00:00",
        "event_data": {"task": "[x] t", "host": "h", "res": {"censored": "hidden", "_ansible_no_log": True}},
    }
    event = runner.to_event(raw, [])
    assert event.result == {} and event.stage == "x" and event.task == "t"
