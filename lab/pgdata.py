"""Where the DR lab's PostgreSQL clusters keep their data, and which OS account runs them.

PostgreSQL refuses to run as root, so as root it runs as `postgres`, and `postgres` must be
able to enter every directory above its data. A lab directory under a private parent (root's
0700 home, anything `mktemp -d` makes) is out of its reach. Then the clusters live in
/var/lib/ganyun-lab/<hash of the lab directory>, owned by `postgres` and private to it (0700),
each center linked from the lab directory; `lab down` removes them. The user's own
directories keep their permissions. An ordinary user runs PostgreSQL as themself, in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from providers.errors import GanyunError

PG_OS_USER = "postgres"
EXTERNAL_BASE = Path("/var/lib/ganyun-lab")


class PlacementError(GanyunError):
    """The clusters have nowhere PostgreSQL's account can keep them; the message says what to do."""

    exit_code = 2


@dataclass(frozen=True)
class DataHome:
    """The directory holding one sub-directory per center, and who must own what is in it."""

    path: Path
    owner: tuple[int, int] | None  # uid, gid to give PostgreSQL's files to (as root only)
    external: bool  # outside the lab directory: linked from it, removed by `lab down`


def pg_owner() -> tuple[int, int] | None:
    """The uid and gid PostgreSQL runs as when that is not us (root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise PlacementError(
            f"running as root needs the '{PG_OS_USER}' OS user: apt-get install postgresql, or run as an ordinary user"
        ) from None
    return pw.pw_uid, pw.pw_gid


def as_pg_user(cmd: Sequence[str]) -> list[str]:
    """The command line that runs `cmd` as PostgreSQL's account."""
    if os.geteuid() != 0:
        return list(cmd)
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PlacementError("running as root needs runuser (apt-get install util-linux), or run as an ordinary user")
    return [runuser, "-u", PG_OS_USER, "--", *cmd]


def _reachable(directory: Path) -> bool:
    """Can PostgreSQL's account enter `directory` (every parent included, ACLs included)?"""
    probe = subprocess.run(as_pg_user(["test", "-x", str(directory)]), capture_output=True, check=False, cwd="/")
    return probe.returncode == 0


def external_path(dr_root: Path) -> Path:
    digest = hashlib.sha256(str(dr_root.resolve()).encode()).hexdigest()[:16]
    return EXTERNAL_BASE / digest


def decide(dr_root: Path) -> DataHome:
    """In the lab directory when PostgreSQL's account can reach it, else outside, private to it."""
    owner = pg_owner()
    if owner is None or _reachable(dr_root):
        return DataHome(dr_root, owner, external=False)
    return DataHome(external_path(dr_root), owner, external=True)


def prepare(home: DataHome, centers: Sequence[str]) -> None:
    """Clear what an earlier, unrecorded lab left; create an external home afresh, owned by
    PostgreSQL's account, mode 0700. Its clusters must be stopped first."""
    try:
        _prepare(home, centers)
    except OSError as exc:
        raise PlacementError(f"cannot prepare {home.path} for PostgreSQL's data: {exc.strerror}") from None


def _prepare(home: DataHome, centers: Sequence[str]) -> None:
    if not home.external:
        for center in centers:
            if (home.path / center).is_symlink() or (home.path / center).exists():
                _remove_path(home.path / center)
        return
    assert home.owner is not None
    if home.path.is_symlink() or home.path.exists():
        _remove_path(home.path)
    for _attempt in range(3):  # another lab's `down` may remove an empty base meanwhile
        EXTERNAL_BASE.mkdir(mode=0o755, exist_ok=True)
        base = EXTERNAL_BASE.lstat()
        if not stat.S_ISDIR(base.st_mode) or base.st_uid != 0 or base.st_mode & 0o022:
            raise PlacementError(f"{EXTERNAL_BASE} must be a directory owned by root and writable only by root")
        try:
            home.path.mkdir(mode=0o700)
            break
        except FileNotFoundError:
            continue
    os.chown(home.path, *home.owner)


def center_dir(home: DataHome, dr_root: Path, center: str) -> Path:
    """The center's directory, made for PostgreSQL's account; linked from the lab when external."""
    path = home.path / center
    path.mkdir(parents=True, exist_ok=True)
    if home.owner is not None:
        os.chown(path, *home.owner)
    if home.external:
        link = dr_root / center
        if link.is_symlink() or link.exists():
            _remove_path(link)
        link.symlink_to(path, target_is_directory=True)
    return path


def remove(home: DataHome, dr_root: Path, centers: Sequence[str]) -> None:
    """Delete an external home and its links (the clusters must be stopped first)."""
    if not home.external:
        return
    for center in centers:
        if (dr_root / center).is_symlink():
            (dr_root / center).unlink()
    if home.path.is_symlink() or home.path.exists():
        _remove_path(home.path)
    with contextlib.suppress(OSError):  # the base goes with the last lab that used it
        EXTERNAL_BASE.rmdir()


def _remove_path(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)
