from __future__ import annotations

import json


def test_version_names_backends(cli, monkeypatch) -> None:
    code, out, _ = cli("version", "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data["crypto"]) == {"sm2_sign", "sm2_verify", "sm2_encrypt", "sm3", "sm4"}
    assert "OpenSSL" in data["crypto"]["sm3"]
    from security import sm

    monkeypatch.setattr(sm, "_gmalglib", lambda: None)
    monkeypatch.setattr(sm, "_tongsuo_ok", lambda: False)
    data = json.loads(cli("version", "--json")[1])
    assert data["crypto"]["sm2_sign"].startswith("gmssl") and data["crypto"]["sm2_verify"].startswith("gmssl")
