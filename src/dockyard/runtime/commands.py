"""One function per `dockyard-runtime` command: read options, call the library, print."""

from __future__ import annotations

import os
import sys

from ..errors import ConfigError, NotFound
from . import log, ops
from .state import Container, list_ids


def _id(args: list[str], cmd: str) -> str:
    if not args:
        raise ConfigError(f"{cmd}: container id required")
    if len(args) > 1 and cmd not in ("kill",):
        raise ConfigError(f"{cmd}: unexpected arguments {' '.join(args[1:])!r}")
    return args[0]


def _print_json(obj) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def cmd_spec(root, o, args, g) -> int:
    from ..oci.runtime_spec import default_spec

    bundle = o.get("bundle") or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise ConfigError(f"{path} already exists; remove it first")
    spec = default_spec()
    if o.get("rootless"):
        uid, gid = os.getuid(), os.getgid()
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
        spec["linux"]["resources"] = {}
    import json

    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    return 0


def _create(root, o, args, g, keep_console=False):
    from .create import create

    if g.get("systemd_cgroup"):
        log.log("warning", "--systemd-cgroup is not supported (no systemd D-Bus API is used): the cgroup is "
                "made on cgroupfs directly, at the path systemd would use (slice:prefix:name -> "
                "/slice/prefix-name.scope)")
    return create(root, _id(args, "create"), o.get("bundle") or ".", pid_file=o.get("pid_file"),
                  console_socket=o.get("console_socket"), no_pivot=bool(o.get("no_pivot")),
                  new_keyring=not o.get("no_new_keyring"),
                  preserve_fds=int(o.get("preserve_fds") or 0), systemd_cgroup=bool(g.get("systemd_cgroup")),
                  keep_console=keep_console)


def cmd_create(root, o, args, g) -> int:
    c, _ = _create(root, o, args, g)
    c.close()
    return 0


def cmd_start(root, o, args, g) -> int:
    c = ops.load(root, _id(args, "start"))
    try:
        ops.start(c)
    finally:
        c.close()
    return 0


def cmd_run(root, o, args, g) -> int:
    """create + start, then (unless --detach) wait, delete, and pass the exit code through."""
    from .._sys import libc

    detach = bool(o.get("detach"))
    if not detach:
        # The init's parent (stage 1) exits during create; as subreaper we inherit it and
        # can wait for its exit status.
        libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1, step="become child subreaper")
    c, master = _create(root, o, args, g, keep_console=not detach and not o.get("console_socket"))
    pid = c.data["pid"]
    try:
        if o.get("start_gate") is not None:
            _await_gate(o["start_gate"], pid)
        ops.start(c)
    except BaseException:
        ops.delete(c, force=True)
        raise
    if detach:
        c.close()
        return 0
    c.close()  # do not hold the lock while the workload runs: `kill`, `state` must work
    if master is not None:
        from . import tty

        code = tty.proxy_until_exit(master, pid)
    else:
        code = ops.wait_exit(pid)
    if not o.get("keep"):
        try:
            ops.delete(ops.load(root, c.id), force=True)
        except NotFound:
            pass  # someone else deleted it meanwhile
    return code


def _await_gate(fd: int, pid: int) -> None:
    """`run --start-gate FD`: the container exists (its namespaces too) but its process has
    not started; tell the caller its pid and wait for "1" before starting. dockyard's engine
    attaches the container's network here, so the workload never runs before its eth0 is up.
    Anything else (or the caller gone) deletes the container and exits 125 quietly: the
    caller says why."""
    try:
        os.write(fd, f"{pid}\n".encode())
        answer = os.read(fd, 1)
    except OSError:
        answer = b""
    finally:
        os.close(fd)
    if answer != b"1":
        raise SystemExit(125)  # cmd_run deletes the container on the way out


def cmd_state(root, o, args, g) -> int:
    c = ops.load(root, _id(args, "state"), lock=False)
    try:
        _print_json(ops.state_json(c))
    finally:
        c.close()
    return 0


def cmd_kill(root, o, args, g) -> int:
    cid = _id(args, "kill")
    sig = ops.parse_signal(args[1]) if len(args) > 1 else 15
    if len(args) > 2:
        raise ConfigError(f"kill: unexpected arguments {' '.join(args[2:])!r}")
    c = ops.load(root, cid)
    try:
        ops.kill(c, sig, bool(o.get("all")))
    finally:
        c.close()
    return 0


def cmd_delete(root, o, args, g) -> int:
    force = bool(o.get("force"))
    try:
        c = ops.load(root, _id(args, "delete"))
    except NotFound:
        if force:
            return 0  # runc: delete --force of a missing container is not an error
        raise
    try:
        ops.delete(c, force)
    finally:
        c.close()
    return 0


def cmd_list(root, o, args, g) -> int:
    rows = []
    for cid in list_ids(root):
        try:
            c = Container.load(root, cid, lock=False)
        except NotFound:
            continue
        try:
            rows.append(ops.state_json(c))
        finally:
            c.close()
    if o.get("quiet"):
        for r in rows:
            print(r["id"])
    elif o.get("format") == "json":
        _print_json(rows)
    else:
        print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} {'CREATED':<32} OWNER")
        for r in rows:
            print(f"{r['id']:<20} {r['pid']:<8} {r['status']:<10} {r['bundle']:<40} {r['created']:<32} root")
    return 0


def cmd_ps(root, o, args, g) -> int:
    if not args:
        raise ConfigError("ps: container id required")
    c = ops.load(root, args[0], lock=False)
    try:
        pids = ops.pids(c)
    finally:
        c.close()
    if o.get("format") == "json":
        _print_json(pids)
        return 0
    import subprocess

    ps_args = args[1:] or ["-ef"]
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True)
    if out.returncode != 0:
        raise ConfigError(f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    header = lines[0].split()
    col = header.index("PID")
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
            print(line)
    return 0


def cmd_exec(root, o, args, g) -> int:
    from .._sys import libc
    from .execute import build_process, exec_

    if not args:
        raise ConfigError("exec: container id required")
    c = ops.load(root, args[0])
    try:
        proc = build_process(c, o.get("process"), args[1:], env=o.get("env") or (), cwd=o.get("cwd"),
                             user=o.get("user"), tty=bool(o.get("tty")), caps=o.get("cap") or (),
                             no_new_privs=True if o.get("no_new_privs") else None,
                             additional_gids=o.get("additional_gids") or ())
        detach = bool(o.get("detach"))
        if not detach:
            libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1, step="become child subreaper")
        pid, master = exec_(c, proc, pid_file=o.get("pid_file"), console_socket=o.get("console_socket"),
                            detach=detach, preserve_fds=int(o.get("preserve_fds") or 0))
    finally:
        c.close()
    if detach:
        if master is not None:
            os.close(master)
        return 0
    if master is not None:
        from . import tty

        return tty.proxy_until_exit(master, pid)
    return ops.wait_exit(pid)


def cmd_pause(root, o, args, g) -> int:
    c = ops.load(root, _id(args, "pause"))
    try:
        ops.pause(c)
    finally:
        c.close()
    return 0


def cmd_resume(root, o, args, g) -> int:
    c = ops.load(root, _id(args, "resume"))
    try:
        ops.resume(c)
    finally:
        c.close()
    return 0


def _size(v: str) -> int:
    """Bytes from "512m", "1g", "-1" or a plain number, as runc's update accepts."""
    s = v.strip().lower()
    if s == "-1":
        return -1
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if s.endswith("b"):
        s = s[:-1]
    try:
        return int(float(s[:-1]) * mult[s[-1]]) if s and s[-1] in mult else int(s)
    except ValueError:
        raise ConfigError(f"invalid size {v!r}") from None


def update_resources(o: dict) -> dict:
    from ..oci.runtime_spec import load_json

    import json

    res: dict = {}
    if o.get("resources"):
        src = o["resources"]
        res = json.load(sys.stdin) if src == "-" else load_json(src, "resources file")
        if not isinstance(res, dict):
            raise ConfigError("resources must be a JSON object (linux.resources)")
    mem = res.setdefault("memory", {})
    for flag, key in (("memory", "limit"), ("memory_swap", "swap"), ("memory_reservation", "reservation")):
        if o.get(flag) is not None:
            mem[key] = _size(o[flag])
    cpu = res.setdefault("cpu", {})
    for flag, key in (("cpu_shares", "shares"), ("cpu_quota", "quota"), ("cpu_period", "period"),
                      ("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if o.get(flag) is not None:
            cpu[key] = o[flag]
    if o.get("pids_limit") is not None:
        res["pids"] = {"limit": o["pids_limit"]}
    if o.get("blkio_weight") is not None:
        res["blockIO"] = {"weight": o["blkio_weight"]}
    if o.get("kernel_memory") is not None:
        log.log("warning", "--kernel-memory is ignored (deprecated in the kernel)")
    return {k: v for k, v in res.items() if v}


def cmd_update(root, o, args, g) -> int:
    res = update_resources(o)
    if not res:
        raise ConfigError("update: nothing to change (give --memory, --cpu-quota, ... or --resources)")
    c = ops.load(root, _id(args, "update"))
    try:
        for w in ops.update(c, res):
            log.log("warning", w)
    finally:
        c.close()
    return 0


def parse_duration(s: str) -> float:
    """Seconds from a Go-style duration as runc takes it: "5s", "500ms", "1m", "1.5s"."""
    for suffix, mult in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if s.endswith(suffix):
            try:
                value = float(s[: -len(suffix)]) * mult
            except ValueError:
                break
            if value > 0:
                return value
            break
    raise ConfigError(f"invalid duration {s!r} (use e.g. 5s, 500ms, 1m)")


def cmd_events(root, o, args, g) -> int:
    import json
    import time

    cid = _id(args, "events")
    interval = parse_duration(o.get("interval") or "5s")
    seen_ooms = None
    while True:
        c = ops.load(root, cid, lock=False)
        try:
            ev = ops.stats(c)
            alive = ops.status(c) != "stopped"
        finally:
            c.close()
        if o.get("stats"):
            print(json.dumps(ev), flush=True)
            return 0
        ooms = (ev["data"].get("memory") or {}).get("oom_kill", 0)
        if seen_ooms is not None and ooms > seen_ooms:
            print(json.dumps({"type": "oom", "id": cid}), flush=True)
        seen_ooms = ooms
        print(json.dumps(ev), flush=True)
        if not alive:
            return 0
        time.sleep(interval)


def cmd_features(root, o, args, g) -> int:
    from ..oci.runtime_spec import features

    _print_json(features())
    return 0
