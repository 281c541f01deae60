"""User-facing text in zh-CN (default) and English.

Messages live in console/locales/<area>.yaml as `key: {zh: ..., en: ...}`, one file per
area so that each area owns its texts. Keys are namespaced by the file name: `sync.title`.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
_LOCALE_DIR = Path(__file__).with_name("locales")
_current: str | None = None


def normalize(lang: str | None) -> str:
    if not lang:
        return DEFAULT_LANGUAGE
    return "en" if lang.lower().startswith("en") else DEFAULT_LANGUAGE


def is_supported(lang: str) -> bool:
    """zh-CN, en and their spellings (zh, zh_CN, en-US, EN, ...)."""
    return lang.lower().replace("_", "-").split("-")[0] in ("zh", "en")


def set_language(lang: str) -> None:
    global _current
    _current = normalize(lang)


def language() -> str:
    return _current or normalize(os.environ.get("GANYUN_LANG"))


@cache
def catalog() -> dict[str, dict[str, str]]:
    messages: dict[str, dict[str, str]] = {}
    for path in sorted(_LOCALE_DIR.glob("*.yaml")):
        # libyaml's loader when present: every command prints through here, and the pure-Python
        # loader spends ~0.2 s on these files.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: S506
        for key, texts in data.items():
            messages[f"{path.stem}.{key}"] = {"zh-CN": texts["zh"], "en": texts["en"]}
    return messages


def t(key: str, lang: str | None = None, **params: Any) -> str:
    """The text for `key` in `lang` (else the current language); the key itself if unknown."""
    entry = catalog().get(key)
    if entry is None:
        return key
    text = entry[normalize(lang) if lang else language()]
    return text.format(**params) if params else text
