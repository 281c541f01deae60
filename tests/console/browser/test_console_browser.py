"""`ganyun console` on the small lab, driven by Debian's headless Chromium through Playwright.

Login page in Chinese, sign-in with a lab account, then EVERY page of the sidebar must render without a Streamlit exception. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.running import read_accounts

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 180.0
PAGE_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (make test installs Debian's chromium)"),
]


def _ganyun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=600, check=False)


def _env() -> dict[str, str]:
    # ansible-runner and the lab need the venv's bin first on PATH.
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ganyun console exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"console not healthy at {url} after {START_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    lab_dir = tmp_path_factory.mktemp("lab")
    env = _env()
    up = _ganyun("lab", "up", "--dir", str(lab_dir), "--scale", "small", env=env)
    assert up.returncode == 0, up.stderr
    try:
        sync = _ganyun("--config", str(lab_dir / "ganyun.yaml"), "sync", "--json", env=env)
        assert sync.returncode in (0, 1), sync.stderr  # 1: a provider failed, still a usable estate
        yield lab_dir
    finally:
        _ganyun("lab", "down", "--dir", str(lab_dir), env=env)


@pytest.fixture(scope="module")
def console_url(lab: Path) -> Iterator[str]:
    from console.commands.console_cmd import free_port

    port = free_port("127.0.0.1")
    log = (lab / "console.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "--config", str(lab / "ganyun.yaml"), "console", "--port", str(port), "--metrics-port", "0"],
        cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        # exec kept the pid: stop exactly the console we started.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _no_exception(page, where: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    if errors.count():
        text = errors.first.inner_text()
        raise AssertionError(f"Streamlit exception on {where}: {text[:2000]}")


def _settle(page) -> None:
    """Wait until Streamlit has finished the script run and no element is left stale (greyed)."""
    import contextlib

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # the run may already be over, or not yet begun
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=5_000)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.getAttribute('data-test-script-state') !== 'running'
                && !document.querySelector('[data-stale="true"]');
        }""",
        timeout=PAGE_TIMEOUT_MS,
    )
    page.wait_for_timeout(300)


def test_login_and_every_page(lab: Path, console_url: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    accounts = read_accounts(lab / "accounts.txt")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(console_url)
            page.get_by_text("赣云 · 一朵云运维控制台").wait_for()
            _settle(page)
            page.screenshot(path=str(ARTIFACTS / "00-login.png"), full_page=True)
            assert page.get_by_role("button", name="登录").count() == 1
            _no_exception(page, "the login page")

            page.get_by_label("用户名").fill("admin")
            page.get_by_label("密码").fill(accounts["admin"])
            page.get_by_role("button", name="登录").click()
            page.get_by_text("角色：系统管理员").wait_for()
            _settle(page)

            links = page.locator('[data-testid="stSidebarNavLink"]')
            # A link's text is its material icon name (a font ligature) and its title: keep the title.
            titles = [links.nth(i).inner_text().strip().splitlines()[-1].strip() for i in range(links.count())]
            for required in ("总览", "资源", "灾备", "证书"):
                assert required in titles, titles
            present = {p.stem for p in (ROOT / "console" / "app_pages").glob("*.py") if p.stem != "__init__"}
            assert len(titles) == len(present), (titles, sorted(present))
            for i, title in enumerate(titles):
                page.locator('[data-testid="stSidebarNavLink"]').nth(i).click()
                _settle(page)
                if title in ("总览", "资源", "灾备", "证书"):
                    page.locator("h1").filter(has_text=title).first.wait_for()
                page.screenshot(path=str(ARTIFACTS / f"{i + 1:02d}-{titles[i]}.png"), full_page=True)
                _no_exception(page, f"page {title}")
                assert page.get_by_text("角色：系统管理员").count() == 1  # still signed in
        finally:
            browser.close()
