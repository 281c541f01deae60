"""Migration headroom, rightsizing, exports and the CLI on the small fixed estate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
import yaml
from sqlalchemy import insert
from typer.testing import CliRunner

from console.cli import app
from inventory.capacity import report as capacity
from inventory.capacity import rightsizing
from inventory.capacity.export import write_html, write_xlsx
from inventory.models import UtilizationRow
from providers.errors import ConfigError
from tests.capacity.estate import GB, build_small


@pytest.fixture()
def small(tmp_path: Path):
    return build_small(tmp_path)


def test_headroom_fits_and_shortfall(small) -> None:
    report = capacity.build_report(small.config, small.store, forecast=False, headroom_filters={"department": "乙局"})
    hr = report["headroom"]
    # Legacy nodes of 乙局: leg-a node 2 (8 vCPU, stopped: still allocated) and leg-b node 1 (4 vCPU).
    assert hr["demand"]["nodes"] == 2 and hr["demand"]["vcpus"] == 12 and hr["demand"]["ram_mb"] == 24 * GB
    target = hr["targets"][0]
    assert target["pool"] == "xc-a" and target["fits_now"]
    assert target["shortfall"] == {"vcpus": 0.0, "ram_mb": 0.0, "disk_gb": 0.0}
    # xc-a free after: 108 vCPU, 216 GB, 3500 GB -> min(27, 27, 35)
    assert target["free_vm_units_after"] == 27


def test_headroom_too_big_a_wave(tmp_path: Path) -> None:
    small = build_small(tmp_path, stale=False, overcommit={"default": {"cpu": 1.0}, "xinchuang": {"cpu": 0.2}})
    report = capacity.build_report(small.config, small.store, forecast=False, headroom_filters={})
    target = report["headroom"]["targets"][0]
    # xc-a: 64 * 0.2 = 12.8 vCPU capacity, 8 allocated -> 4.8 free; legacy demand 16 vCPU.
    assert not target["fits_now"]
    assert target["shortfall"]["vcpus"] == pytest.approx(16 - 4.8, abs=0.05)
    assert report["headroom"]["any_fits"] is False


def test_rightsizing_levels(small) -> None:
    with small.store.session() as session:
        session.execute(insert(UtilizationRow), [
            # leg-a n1: 4 vCPU, 8 GB; nearly idle.
            {"provider": "leg-a", "node_id": "leg-a-n1", "cpu_avg_pct": 2.0, "cpu_p95_pct": 4.0, "ram_avg_pct": 20.0,
             "window_days": 30, "sampled_at": datetime.now(UTC)},
            # leg-a n2: 8 vCPU, 16 GB; busy: nothing to take back.
            {"provider": "leg-a", "node_id": "leg-a-n2", "cpu_avg_pct": 60.0, "cpu_p95_pct": 90.0,
             "ram_avg_pct": 85.0, "window_days": 30, "sampled_at": datetime.now(UTC)},
        ])  # fmt: skip
        out = capacity.rightsizing(session, small.config, "moderate")
    assert out["measured_nodes"] == 2
    assert out["idle"] == {"nodes": 1, "vcpus": 4, "ram_mb": 8 * GB}
    top = out["top"]
    assert [s["id"] for s in top] == ["leg-a-n1"]
    # moderate: 4 * 4% / 80% = 0.2 -> 1 vCPU; RAM 8 GB * 20% * 1.25 = 2 GB.
    assert top[0]["suggested_vcpus"] == 1 and top[0]["suggested_ram_mb"] == 2 * GB
    levels = out["levels"]
    assert levels["conservative"]["vcpus_reclaimable"] <= levels["moderate"]["vcpus_reclaimable"]
    assert levels["moderate"]["vcpus_reclaimable"] <= levels["aggressive"]["vcpus_reclaimable"]
    lvl = rightsizing.LEVELS["conservative"]
    # conservative: 8 * 90% / 60% = 12 -> capped at the current 8; RAM 16 GB * 85% * 1.5 > 16 GB -> 16 GB.
    assert rightsizing.suggest(8, 16 * GB, 60.0, 90.0, 85.0, lvl) == (8, 16 * GB)


def test_exports_have_sheets_charts_and_stale_banner(small, tmp_path: Path) -> None:
    report = capacity.build_report(small.config, small.store, forecast=False, headroom_filters={})
    xlsx = write_xlsx(report, tmp_path / "r.xlsx")
    wb = openpyxl.load_workbook(xlsx)
    assert len(wb.sheetnames) >= 10
    first = wb.worksheets[0]
    texts = [str(c.value) for row in first.iter_rows(max_row=8) for c in row if c.value]
    assert any("leg-b" in v for v in texts)  # the stale provider is named on the first sheet
    charts = sum(len(ws._charts) for ws in wb.worksheets)
    assert charts >= 6
    assert first._charts  # the summary sheet has its chart
    html = write_html(report, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "id='stale'" in html and "leg-b" in html
    assert html.count("Plotly.newPlot") >= 4
    # Offline: the Plotly bundle is inline, no script is loaded from elsewhere.
    assert "<script src=" not in html.replace('<script src="data:', "")
    assert len(html) > 1_000_000


def test_cli_report_json_and_xlsx(small, tmp_path: Path) -> None:
    cfg = tmp_path / "ganyun.yaml"
    cfg.write_text(yaml.safe_dump(small.config.model_dump(exclude={"base_dir"}), allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(cfg), "capacity", "report", "--format", "json", "--method", "linear"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {p["name"] for p in data["pools"]} == {"leg-a", "xc-a", "leg-b"}
    assert 0.0 <= data["xinchuang"]["share"] <= 1.0
    assert [s["provider"] for s in data["stale"]] == ["leg-b"]
    assert all("resources" in f for f in data["forecast"])
    out = tmp_path / "cap.xlsx"
    result = runner.invoke(app, ["--config", str(cfg), "capacity", "report", "--format", "xlsx", "--output", str(out),
                                 "--method", "linear"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.exists() and len(openpyxl.load_workbook(out).sheetnames) >= 10
    result = runner.invoke(app, ["--config", str(cfg), "capacity", "headroom", "--where", "department=乙局", "--json",
                                 "--method", "linear"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["demand"]["vcpus"] == 12
    bad = runner.invoke(app, ["--config", str(cfg), "capacity", "headroom", "--where", "nonsense=1"])
    # The ganyun app maps ConfigError to exit 2; CliRunner calls the command without that wrapper.
    assert isinstance(bad.exception, ConfigError) and "nonsense" in str(bad.exception)
