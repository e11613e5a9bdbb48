"""The last steps before a container process execs, shared by the init and by ``exec``.

Order, and why:
 1. rlimits, oom_score_adj   while still privileged (raising needs capabilities we drop)
 2. seccomp if no NNP        loading a filter without no_new_privs needs CAP_SYS_ADMIN
 3. groups, gid, uid         with PR_SET_KEEPCAPS so the uid switch keeps the caps we want
 4. capabilities             bounding (needs CAP_SETPCAP: before the uid switch), then the rest
 5. no_new_privs, cwd, env   cwd as the target user, so permissions are the user's
 6. wait for `start`         (init only)
 7. seccomp if NNP           as late as possible, so the filter governs only the workload
 8. execve
"""

from __future__ import annotations

import os

from .._sys import libc
from ..errors import ConfigError, DockyardError, SysError
from . import caps as capslib

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def apply_rlimits(rlimits) -> None:
    import resource

    for r in rlimits or ():
        name = r["type"]
        res = getattr(resource, name, None)
        if res is None:
            raise ConfigError(f"unknown rlimit {name}")
        try:
            resource.setrlimit(res, (r["soft"], r["hard"]))
        except ValueError:
            raise ConfigError(f"rlimit {name}: soft {r['soft']} is above hard {r['hard']}") from None
        except OSError as e:
            hard = resource.getrlimit(res)[1]
            raise SysError(f"setrlimit {name} {r['soft']}:{r['hard']}", e.errno,
                           detail=f"the host's hard limit is {hard}, and raising it needs CAP_SYS_RESOURCE") from None


def set_oom_score_adj(value) -> None:
    if value is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        raise SysError("set oomScoreAdj", e.errno, str(value),
                       "lowering it needs CAP_SYS_RESOURCE") from None


def switch_user(user: dict, in_userns_without_setgroups: bool = False) -> None:
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    extra = user.get("additionalGids") or []
    if not in_userns_without_setgroups:
        try:
            os.setgroups(extra)
        except OSError as e:
            raise SysError("setgroups", e.errno, detail=str(extra)) from None
    try:
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as e:
        raise SysError("switch to user", e.errno, detail=f"uid {uid} gid {gid}") from None
    if "umask" in user:
        os.umask(user["umask"])


def apply_capabilities(capabilities: dict | None, user: dict, setgroups_ok: bool = True) -> None:
    """Bounding set, user switch with caps kept, then the other four sets."""
    last = libc.last_cap()
    m = capslib.masks(capabilities, last)
    capslib.drop_bounding(m["bounding"], last)
    libc.prctl(libc.PR_SET_KEEPCAPS, 1, step="keep capabilities across setuid")
    switch_user(user, not setgroups_ok)
    libc.prctl(libc.PR_SET_KEEPCAPS, 0, step="reset keepcaps")
    capslib.apply_sets(m)


def env_map(env: list[str]) -> dict[str, str]:
    out = {}
    for e in env or ():
        k, sep, v = e.partition("=")
        if sep:
            out[k] = v
    return out


def home_of(uid: int) -> str:
    try:
        with open("/etc/passwd") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def look_path(arg0: str, env: dict[str, str]) -> str:
    """Find the executable as execvp would, but before `start`, so `create` can say
    'not found' (exit 127 territory) instead of the init dying silently later."""
    if "/" in arg0:
        _check_exec(arg0, arg0)
        return arg0
    for d in (env.get("PATH") or DEFAULT_PATH).split(":"):
        cand = os.path.join(d or ".", arg0)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise DockyardError(f'exec: "{arg0}": executable file not found in $PATH', code="not-found")


def _check_exec(path: str, shown: str) -> None:
    if not os.path.exists(path):
        raise DockyardError(f"exec: {shown}: no such file or directory", code="not-found")
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise DockyardError(f"exec: {shown}: permission denied", code="not-executable")


def prepare_env(proc: dict) -> dict[str, str]:
    env = env_map(proc.get("env"))
    if "HOME" not in env:
        env["HOME"] = home_of(proc.get("user", {}).get("uid", 0))
    return env


def chdir(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as e:
        raise SysError("chdir to process.cwd", e.errno, cwd) from None


def exec_process(path: str, args: list[str], env: dict[str, str]) -> None:
    """execve, reporting failure on the container's stderr with the status a shell uses."""
    try:
        os.execve(path, args, env)
    except OSError as e:
        os.write(2, f"dockyard-runtime: exec {args[0]}: {e.strerror}\n".encode())
        os._exit(127 if e.errno == 2 else 126)
