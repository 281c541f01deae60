"""Console sign-in attacked as a console user or an outsider would, through the login page (AppTest).

The clock and the client address are the two things a test must control: console.clock.now
and console.frame.client_address are replaced; everything else (the throttle rows in the
database, the accounts table, the audit log) is the real thing.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from console import accounts, auth, clock, frame, passwords, sessions, throttle
from console.settings import ConsoleSettings, ThrottleSettings
from inventory.config import parse_config
from inventory.scope import Scope
from providers.errors import ConfigError
from tests.console.apptest import APP, audit_entries, button
from tests.fakes.estates.city import PASSWORD, estate_config

INVALID = "登录失败：用户名或密码错误，或尝试过于频繁，请稍候再试。"
DEFAULTS = ThrottleSettings()
ATTACKER, VICTIM = "203.0.113.66", "198.51.100.7"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture()
def fake_clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(clock, "now", fake)
    return fake


@pytest.fixture()
def address(monkeypatch) -> dict[str, str]:
    current = {"ip": ATTACKER}
    monkeypatch.setattr(frame, "client_address", lambda: current["ip"])
    return current


def _app(config) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["ganyun_config"] = config
    return at.run()


def _login(config, name: str, password: str) -> AppTest:
    at = _app(config)
    at.text_input(key="login_user").input(name)
    at.text_input(key="login_password").input(password)
    button(at, "登录").click().run()
    assert not at.exception
    return at


def _answer(at: AppTest) -> tuple[list[str], list[str], list[str], bool]:
    """Everything the login page tells the user after an attempt."""
    return ([e.value for e in at.error], [i.value for i in at.info], [w.value for w in at.warning],
            "user" in at.session_state)


def _waits(store, name: str, ip: str, now: datetime) -> tuple[float, float]:
    address_key, account_key = throttle.keys_for(name, ip, DEFAULTS)
    return throttle.wait_seconds(store, [address_key], now), throttle.wait_seconds(store, [account_key], now)


# --------------------------------------------------------------------------- throttling


def test_delays_grow_per_failure_and_are_capped(estate, fake_clock, address):
    address_waits, account_waits = [], []
    for _ in range(11):
        fake_clock.advance(seconds=max(_waits(estate.store, "operator", ATTACKER, fake_clock.now)))
        at = _login(estate.config, "operator", "guess-guess-guess")
        assert _answer(at) == ([INVALID], [], [], False)
        by_address, by_account = _waits(estate.store, "operator", ATTACKER, fake_clock.now)
        address_waits.append(by_address)
        account_waits.append(by_account)
    assert account_waits == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert address_waits == [0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128]
    # While blocked, even the right password gets the same answer and does not count.
    blocked = _login(estate.config, "operator", PASSWORD)
    assert _answer(blocked) == ([INVALID], [], [], False)
    assert _waits(estate.store, "operator", ATTACKER, fake_clock.now) == (128, 60)
    failed = sorted(audit_entries(estate, "console.login_failed"), key=lambda e: e["seq"])
    reasons = [e["details"]["reason"] for e in failed]
    assert reasons == ["invalid"] * 11 + ["throttled"]


def test_a_third_party_delays_a_victim_at_most_the_account_cap(estate, fake_clock, address):
    # The attacker drives operator's delay to its cap, then keeps hammering while it is blocked.
    for _ in range(10):
        fake_clock.advance(seconds=max(_waits(estate.store, "operator", ATTACKER, fake_clock.now)))
        _login(estate.config, "operator", "guess-guess-guess")
    for _ in range(4):
        _login(estate.config, "operator", "guess-guess-guess")
    assert _waits(estate.store, "operator", ATTACKER, fake_clock.now)[1] == DEFAULTS.account_cap_s
    address["ip"] = VICTIM
    assert _answer(_login(estate.config, "operator", PASSWORD)) == ([INVALID], [], [], False)
    fake_clock.advance(seconds=DEFAULTS.account_cap_s)
    victim = _login(estate.config, "operator", PASSWORD)
    assert victim.session_state["user"]["name"] == "operator"
    # The attacker's own address stays blocked far longer, for every account name.
    address["ip"] = ATTACKER
    assert _answer(_login(estate.config, "planner", PASSWORD)) == ([INVALID], [], [], False)


def test_spraying_many_names_from_one_address_is_throttled_per_address(estate, fake_clock, address):
    for n in range(6):
        fake_clock.advance(seconds=max(_waits(estate.store, f"user{n}", ATTACKER, fake_clock.now)))
        _login(estate.config, f"user{n}", "guess-guess-guess")
    by_address, _ = _waits(estate.store, "someone-new", ATTACKER, fake_clock.now)
    assert by_address == 4
    # A name never tried before is refused from that address, and works from another one.
    assert _answer(_login(estate.config, "auditor", PASSWORD)) == ([INVALID], [], [], False)
    address["ip"] = VICTIM
    assert _login(estate.config, "auditor", PASSWORD).session_state["user"]["role"] == "auditor"


def test_unknown_wrong_disabled_and_throttled_look_the_same(estate, fake_clock, address):
    accounts.set_active(estate.store, "planner", False)
    answers = {}
    address["ip"] = "192.0.2.1"
    answers["unknown"] = _answer(_login(estate.config, "no-such-user", "guess-guess-guess"))
    address["ip"] = "192.0.2.2"
    answers["wrong"] = _answer(_login(estate.config, "operator", "guess-guess-guess"))
    address["ip"] = "192.0.2.3"
    answers["disabled"] = _answer(_login(estate.config, "planner", PASSWORD))
    address["ip"] = "192.0.2.4"
    for _ in range(DEFAULTS.free_failures + 1):
        _login(estate.config, "admin", "guess-guess-guess")
    answers["throttled"] = _answer(_login(estate.config, "admin", PASSWORD))
    assert all(answer == ([INVALID], [], [], False) for answer in answers.values()), answers


def test_unknown_and_known_names_take_the_same_time(tmp_path, monkeypatch):
    """Medians of interleaved attempts at the production scrypt cost must agree within 35 %.

    Without the decoy hash an unknown name answers in well under a millisecond against ~50 ms
    for a known one, a ratio far outside the bound. Measured in this thread's CPU time: the
    question is whether both paths do the same work, and wall time on a loaded machine adds
    other processes' noise to either side.
    """
    monkeypatch.setattr(passwords, "_SCRYPT_N", 2**14)
    config = parse_config({"database": "sqlite:///t.db"}, base_dir=str(tmp_path))
    from inventory.store import open_store

    store = open_store(config.database_url)
    accounts.save_local(store, "li.ming", "planner", Scope.city_wide(), "a-long-password")
    lenient = ThrottleSettings(free_failures=100)  # measure the check, not the throttle
    known, unknown = [], []
    for i in range(12):
        for name, samples in (("li.ming", known), (f"nobody{i}", unknown)):
            started = time.thread_time()
            with pytest.raises(auth.LoginError):
                auth.authenticate(store, name, "not-the-password", f"10.0.0.{i}", lenient)
            samples.append(time.thread_time() - started)
    slow, fast = statistics.median(known), statistics.median(unknown)
    assert slow > 0.005, "the scrypt check did not run at the production cost"
    assert 1 / 1.35 < fast / slow < 1.35, (fast, slow)


# --------------------------------------------------------------------------- sessions


def _signed_in(config, name: str = "operator") -> AppTest:
    at = _login(config, name, PASSWORD)
    assert at.session_state["user"]["name"] == name
    return at


def test_idle_sessions_end_and_activity_keeps_them_alive(estate, fake_clock, address):
    at = _signed_in(estate.config)
    for _ in range(3):
        fake_clock.advance(minutes=29)
        at.run()
        assert "user" in at.session_state  # each run is activity: idle time starts over
    fake_clock.advance(minutes=30)
    at.run()
    assert "user" not in at.session_state
    assert "长时间未操作，会话已结束，请重新登录。" in [i.value for i in at.info]
    assert [b.label for b in at.button if b.label == "登录"]  # back on the login page
    ended = audit_entries(estate, "console.session_end")
    assert ended[0]["details"] == {"user": "operator", "reason": "idle"}


def test_sessions_end_at_their_absolute_age_whatever_the_activity(estate, fake_clock, address):
    config = parse_config({**estate_config(), "console": {"session_max_hours": 1, "session_idle_minutes": 30}},
                          base_dir=str(estate.dir))
    at = _signed_in(config)
    for _ in range(2):
        fake_clock.advance(minutes=25)
        at.run()
        assert "user" in at.session_state
    fake_clock.advance(minutes=10)  # 60 minutes after signing in
    at.run()
    assert "user" not in at.session_state
    assert "会话已到最长时限，请重新登录。" in [i.value for i in at.info]


def test_default_session_limits_are_30_minutes_idle_and_12_hours():
    settings = ConsoleSettings()
    assert (settings.idle_timeout, settings.max_age) == (timedelta(minutes=30), timedelta(hours=12))


def test_a_session_without_timestamps_is_not_trusted(estate, fake_clock, address):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["ganyun_config"] = estate.config
    at.session_state["user"] = {"name": "admin", "role": "admin", "source": "local", "epoch": 0}
    at.run()
    assert "user" not in at.session_state


# --------------------------------------------------------------------------- roles re-read every run


def test_role_change_takes_effect_on_the_next_run(estate, fake_clock, address):
    at = _signed_in(estate.config)
    assert "角色：运维人员" in [c.value for c in at.sidebar.caption]
    accounts.set_role(estate.store, "operator", "auditor")
    at.run()
    assert at.session_state["user"]["role"] == "auditor"
    assert "角色：审计员（只读）" in [c.value for c in at.sidebar.caption]
    accounts.set_scope(estate.store, "operator", Scope.of(["定南县"]))
    at.run()
    assert at.session_state["user"]["scope"] == {"city": False, "departments": ["定南县"]}


@pytest.mark.parametrize("change", ["disable", "reset-password"])
def test_disable_or_password_reset_ends_the_session_on_the_next_run(estate, fake_clock, address, change):
    at = _signed_in(estate.config)
    if change == "disable":
        accounts.set_active(estate.store, "operator", False)
    else:
        accounts.reset_password(estate.store, "operator", "a-brand-new-password")
    at.run()
    assert "user" not in at.session_state
    assert "账号已被停用、修改密码或删除，会话已结束。" in [i.value for i in at.info]
    assert audit_entries(estate, "console.session_end")[0]["details"]["reason"] == "revoked"


def test_oidc_sessions_follow_the_token_claims_and_the_active_flag(estate, fake_clock):
    settings = ConsoleSettings()
    first = auth.Identity("li.idp", "planner", "Li", "oidc", Scope.of(["定南县"]))
    account = accounts.sync_oidc(estate.store, first.name, first.display_name, first.role, first.scope)
    user = sessions.start(account.identity(), fake_clock.now)
    promoted = auth.Identity("li.idp", "operator", "Li", "oidc", Scope.city_wide())
    checked = sessions.check(estate.store, user, fake_clock.now, settings, promoted)
    assert checked.user is not None and (checked.user["role"], checked.user["scope"]["city"]) == ("operator", True)
    assert accounts.get_account(estate.store, "li.idp").role == "operator"  # the row follows the claims
    assert sessions.check(estate.store, checked.user, fake_clock.now, settings, None).ended == sessions.REVOKED
    accounts.set_active(estate.store, "li.idp", False)
    assert sessions.check(estate.store, checked.user, fake_clock.now, settings, promoted).ended == sessions.REVOKED
    with pytest.raises(ConfigError, match="local account"):
        accounts.sync_oidc(estate.store, "operator", "Op", "admin", Scope.city_wide())


def test_address_keys_group_an_ipv6_subscriber_and_unwrap_mapped_ipv4():
    key = throttle.address_key
    assert key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff::9") != key("2001:db8:1:3::1")
    assert key("::ffff:198.51.100.7") == key("198.51.100.7") == "addr:198.51.100.7"
    assert key(None) == key("") == "addr:local"
    assert key("not an address").startswith("addr:") and " " not in key("not an address")
