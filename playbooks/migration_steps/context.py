"""What every migration step works with: the plan item, the VM's state, the providers, and the
ways a step meets a real cloud's timing: waiting with a timeout and a growing pause, retrying
a call that failed transiently, recording what it made the moment it exists, noting progress.

Timing comes from the `migration:` section of ganyun.yaml (seconds): boot_timeout_s,
image_timeout_s, power_timeout_s, poll_s (first pause), poll_max_s (longest pause),
api_attempts (tries of a call that failed transiently), image_attempts and boot_attempts
(snapshots, uploads and boots redone after the cloud failed them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from inventory.config import GanyunConfig
from playbooks.migration_steps.checkpoint import Checkpoint
from providers.base import Node, Provider, State
from providers.errors import NotFound, PlaybookError, Throttled, Unavailable

T = TypeVar("T")
# Tags ganyun writes on what it makes: the VM it came from and the run that made it.
FROM_TAG = "ganyun_migrated_from"
RUN_TAG = "ganyun_run"
DEFAULTS: dict[str, float] = {
    "boot_timeout_s": 600.0,
    "image_timeout_s": 1800.0,
    "power_timeout_s": 600.0,
    "poll_s": 0.5,
    "poll_max_s": 10.0,
    "api_attempts": 4,
    "image_attempts": 3,
    "boot_attempts": 3,
    "lock_timeout_s": 300.0,
}
NOTE_EVERY_S = 0.5  # progress notes written at most this often (the engine reads every second)
TRANSIENT = (Unavailable, Throttled)


class StepError(PlaybookError):
    """A step failed; the message names the VM and the step. `state` is what the step had
    done before failing (a half-booted node id), so that the rescue can clean it up."""

    state: dict[str, Any] | None = None


@dataclass(slots=True)
class StepContext:
    config: GanyunConfig
    item: Mapping[str, Any]
    state: dict[str, Any]
    run_id: int
    workdir: Path
    faults: frozenset[str] = frozenset()
    factory: Callable[[str], Provider] | None = None
    step: str = ""
    checkpoint: Checkpoint | None = None
    _providers: dict[str, Provider] = field(default_factory=dict)
    _noted_at: float = 0.0

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            if self.factory is not None:
                self._providers[name] = self.factory(name)
            else:
                from inventory.credentials import provider_spec
                from providers.registry import create_provider
                from security.vault import VaultCredentials

                spec = provider_spec(self.config.provider(name), VaultCredentials(self.config))
                self._providers[name] = create_provider(spec)
        return self._providers[name]

    @property
    def source(self) -> Provider:
        return self.provider(str(self.item["source_provider"]))

    @property
    def target(self) -> Provider:
        return self.provider(str(self.item["target_provider"]))

    @property
    def key(self) -> str:
        return f"{self.item['source_provider']}/{self.item['source_id']}"

    def setting(self, name: str) -> float:
        return float(self.config.migration.get(name, DEFAULTS[name]))

    def fail(self, step: str, message: str) -> StepError:
        return StepError(f"{self.item.get('name', self.key)}: {step}: {message}")

    # -- recording

    def save(self, **values: Any) -> None:
        """Record values now (an id the cloud just gave): a kill after this loses nothing."""
        self.state.update(values)
        if self.checkpoint is not None:
            self.checkpoint.save(self.state, self.step, "")

    def note(self, text: str, force: bool = False) -> None:
        """Progress of a long step, for `migrate run` and `migrate status` to show."""
        now = time.monotonic()
        if self.checkpoint is None or (not force and now - self._noted_at < NOTE_EVERY_S):
            return
        self._noted_at = now
        self.checkpoint.save(self.state, self.step, text)

    def remark(self, text: str) -> None:
        """Something the operator should know about this step even though it succeeded (the
        cloud placed the node elsewhere, a boot had to be retried): shown with the step."""
        remarks = dict(self.state.get("remarks") or {})
        earlier = str(remarks.get(self.step) or "")
        remarks[self.step] = f"{earlier}; {text}" if earlier else text
        self.save(remarks=remarks)

    # -- a cloud's timing

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """fn(), tried again with a growing pause while the cloud answers 5xx or throttles."""
        attempts = max(1, int(self.setting("api_attempts")))
        pause = self.setting("poll_s")
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except TRANSIENT as exc:
                if attempt == attempts:
                    raise
                self.note(f"{what}: {exc.detail} (try {attempt + 1} of {attempts})", force=True)
                time.sleep(pause)
                pause = min(self.setting("poll_max_s"), pause * 2)
        raise AssertionError("unreachable")

    def create_once(self, what: str, find: Callable[[], T | None], create: Callable[[], T]) -> T:
        """What `create` makes, made once: looked for first (a run killed right after the cloud
        made it, or a transient error on an answer that came after the work was done), and
        looked for again before each retry."""

        def found_or_created() -> T:
            found = self.call(what, find)
            return found if found is not None else create()

        return self.call(what, found_or_created)

    def wait(
        self,
        what: str,
        probe: Callable[[], T],
        ready: Callable[[T], bool],
        *,
        timeout_s: float,
        failed: Callable[[T], str] = lambda _value: "",
        describe: Callable[[T], str] = str,
    ) -> T:
        """Poll until `ready`, with a pause growing from poll_s to poll_max_s; `failed` names a
        state that will not get better. A transient error while polling is one more poll."""
        started = time.monotonic()
        pause = self.setting("poll_s")
        seen = "not read yet"
        while True:
            try:
                value = probe()
            except TRANSIENT as exc:
                seen = f"unreadable ({exc.detail})"
            else:
                if ready(value):
                    return value
                reason = failed(value)
                if reason:
                    raise self.fail(self.step, f"{what}: {reason}")
                seen = describe(value)
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                raise self.fail(self.step, f"{what}: still {seen} after {timeout_s:.0f}s")
            self.note(f"{what}: {seen} ({elapsed:.0f}s)")
            time.sleep(min(pause, max(0.05, timeout_s - elapsed)))
            pause = min(self.setting("poll_max_s"), pause * 1.5)

    def wait_node(self, provider: Provider, node_id: str, wanted: State, what: str, timeout_key: str) -> Node:
        def failed(node: Node) -> str:
            if node.state != State.ERROR or wanted == State.ERROR:
                return ""
            fault = node.extra.get("fault") if isinstance(node.extra, Mapping) else None
            detail = str(fault.get("message", "") if isinstance(fault, Mapping) else fault or "")
            return f"node {node_id} went to ERROR {detail}".strip()

        def probe() -> Node:
            try:
                return provider.get_node(node_id)
            except NotFound:
                raise self.fail(self.step, f"{what}: node {node_id} is gone") from None

        return self.wait(
            what,
            probe,
            lambda node: node.state == wanted,
            timeout_s=self.setting(timeout_key),
            failed=failed,
            describe=lambda node: node.state.value,
        )
