"""Frameworks as data, the only check-to-clause mapping: every mapping names a real check, every
check is mapped, and check metadata carries no clauses of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from providers.errors import ConfigError
from security.compliance import frameworks
from security.compliance.registry import CHECKS_DIR, load_checks
from security.compliance.types import SEVERITIES


def test_no_framework_names_a_missing_check() -> None:
    assert frameworks.unknown_checks(set(load_checks())) == []


def test_a_missing_check_is_reported() -> None:
    known = set(load_checks()) - {"volume_unencrypted"}
    missing = frameworks.unknown_checks(known)
    assert "gbt39786-2021:6.4.e -> volume_unencrypted" in missing


def test_every_check_decides_some_clause_of_both_frameworks_or_one() -> None:
    assert frameworks.unmapped_checks(set(load_checks())) == []
    for check_id in load_checks():
        assert frameworks.clauses_of(check_id), f"{check_id} is mapped to no requirement"


def test_a_check_in_no_framework_is_reported() -> None:
    assert frameworks.unmapped_checks({*load_checks(), "ghost_check"}) == ["ghost_check"]


def test_clauses_come_from_the_frameworks() -> None:
    # Clauses the check metadata once carried lacked 8.1.4.8.a: the framework is what counts.
    assert frameworks.clauses_of("tls_endpoint_no_sm_protocol") == [
        "gbt22239-2019:8.1.2.2.b", "gbt22239-2019:8.1.4.8.a",
        "gbt39786-2021:6.2.a", "gbt39786-2021:6.2.c", "gbt39786-2021:6.4.d",
    ]  # fmt: skip


def test_gbt39786_has_its_eight_sections_and_four_levels() -> None:
    fw = frameworks.load_frameworks()["gbt39786-2021"]
    titles = [title["zh"] for sid, title in fw.sections() if sid != "5"]
    assert titles == ["物理和环境安全", "网络和通信安全", "设备和计算安全", "应用和数据安全",
                      "管理制度", "人员管理", "建设运行", "应急处置"]  # fmt: skip
    for req in fw.requirements:
        assert set(req.strength) == {1, 2, 3, 4}
        assert all(v in (None, "应", "宜", "可") for v in req.strength.values())
    # Requirements tighten with the level: never weaker at a higher one.
    order = {None: 0, "可": 1, "宜": 2, "应": 3}
    for req in fw.requirements:
        ranks = [order[req.strength[level]] for level in (1, 2, 3, 4)]
        assert ranks == sorted(ranks), req.id
    assert fw.requirements and any(r.manual for r in fw.requirements)
    remote = next(r for r in fw.requirements if r.id == "6.3.b")
    assert remote.strength[3] == "应" and "sg_remote_admin_open" in remote.checks


def test_framework_requirement_without_check_or_manual_is_refused() -> None:
    bad = {"id": "x", "title": {}, "sections": [{"id": "1", "title": {}, "requirements": [
        {"id": "1.a", "title": {}, "strength": {"1": "应"}}]}]}  # fmt: skip
    with pytest.raises(ConfigError, match="manual"):
        frameworks._parse(bad, "x.json")


def test_check_folders_follow_the_house_layout() -> None:
    folders = sorted(p.name for p in CHECKS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert folders == sorted(load_checks())
    assert len(folders) >= 15
    for name in folders:
        meta = json.loads((CHECKS_DIR / name / f"{name}.metadata.json").read_text(encoding="utf-8"))
        assert meta["id"] == name
        assert meta["severity"] in SEVERITIES
        for field in ("title", "risk", "remediation"):
            assert meta[field]["zh"] and meta[field]["en"]
        assert set(meta) == {"id", "title", "severity", "min_level", "resource_type", "risk", "remediation"}, name


def test_every_check_has_its_own_test_folder() -> None:
    tests = Path(__file__).resolve().parents[1] / "security" / "compliance" / "checks"
    for name in load_checks():
        module = tests / name / f"test_{name}.py"
        assert module.is_file(), f"{name}: no {module.relative_to(tests.parents[2])}"
        source = module.read_text(encoding="utf-8")
        assert "Status.FAIL" in source and ("Status.PASS" in source or "Status.MANUAL" in source), name


def test_metadata_missing_a_field_is_refused(tmp_path: Path) -> None:
    from security.compliance.registry import load_meta

    path = tmp_path / "x.metadata.json"
    path.write_text(json.dumps({"id": "x", "severity": "high"}))
    with pytest.raises(ConfigError, match="missing"):
        load_meta(path)


def test_metadata_with_its_own_clauses_is_refused(tmp_path: Path) -> None:
    from security.compliance.registry import CHECKS_DIR, load_meta

    meta = json.loads((CHECKS_DIR / "volume_not_sm4" / "volume_not_sm4.metadata.json").read_text(encoding="utf-8"))
    path = tmp_path / "volume_not_sm4.metadata.json"
    path.write_text(json.dumps({**meta, "frameworks": {"gbt39786-2021": ["6.4.e"]}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown field frameworks \(clauses are mapped in frameworks/\*\.json"):
        load_meta(path)
