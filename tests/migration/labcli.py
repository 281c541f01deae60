"""A lab driven through the `ganyun` CLI, as a user would: for the end-to-end migration tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from inventory import query
from inventory.config import load_config
from inventory.store import open_store
from lab import control

GANYUN = str(Path(sys.executable).with_name("ganyun"))


class LabCli:
    def __init__(self, lab_dir: Path, config_path: Path) -> None:
        self.dir = lab_dir
        self.config_path = config_path
        self.env = {**os.environ, "GANYUN_CONFIG": str(config_path), "GANYUN_LANG": "en"}
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [GANYUN, *args], env=self.env, cwd=self.dir, capture_output=True, text=True, timeout=600, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ganyun {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str, check: bool = True) -> Any:
        return json.loads(self.run(*args, check=check).stdout)

    def records(self, kind: str, **where: str) -> list[dict[str, Any]]:
        """Read the inventory in-process (the CLI's `inventory list` reads the same rows)."""
        config = load_config(self.config_path)
        store = open_store(config.database_url)
        try:
            with store.session() as session:
                return list(query.iter_records(session, kind, where))
        finally:
            store.dispose()

    def nodes(self, **where: str) -> list[dict[str, Any]]:
        return self.records("nodes", **where)

    def plan(self, name: str, target: str, keep: list[str], where: str) -> Path:
        """Plan a system, then keep only some VMs: plans are user-editable and re-validated."""
        path = self.dir / f"{name}.json"
        self.run("migrate", "plan", "--target", target, "--where", where, "--output", str(path))
        plan = json.loads(path.read_text(encoding="utf-8"))
        plan["items"] = [i for i in plan["items"] if i["name"] in keep]
        assert sorted(i["name"] for i in plan["items"]) == sorted(keep)
        for item in plan["items"]:
            item["wave"] = 1
        plan["waves"] = [{"number": 1, "groups": [], "items": len(plan["items"])}]
        path.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
        return path

    def faults(self, cloud: str, **kinds: Any) -> None:
        control.set_faults(self.dir, cloud, kinds)

    def clear_faults(self) -> None:
        control.set_faults(self.dir, None, {}, clear=True)
