"""`docker update`: change a container's limits while it runs, and keep them.

A running (or created) container's cgroup is changed at once through `dockyard-runtime
update` (the runtime orders v1's memory and memory+swap writes so no step breaks
limit <= memsw). The bundle's config.json is updated as well, because a `start` of an
exited container and restart policies create it again from that file: the new limits
survive a restart, as Docker's do. --restart goes into meta.json.

Docker's rules: --memory without --memory-swap lets the container swap as much again
(OCI swap = memory + swap = 2 x memory, as `run` sets it); --memory-swap -1 is unlimited
swap; --memory-swap below --memory is refused; --cpus is a quota per 100 ms period.
"""

from __future__ import annotations

import os

from .. import _json as json
from ..errors import ConfigError, DockyardError
from .spec import CPU_PERIOD


class UpdateError(DockyardError):
    exit_code = 125


def resources(*, memory: int | None = None, memory_swap: int | None = None, cpus: float | None = None,
              cpu_shares: int | None = None, cpuset_cpus: str | None = None, pids_limit: int | None = None,
              current: dict | None = None) -> dict:
    """OCI linux.resources for the changes (``current``: the container's, for the swap rule)."""
    res: dict = {}
    if memory is not None or memory_swap is not None:
        limit = memory if memory is not None else ((current or {}).get("memory") or {}).get("limit")
        if memory_swap is not None and memory_swap != -1 and limit and memory_swap < limit:
            raise ConfigError("minimum memoryswap limit should be larger than memory limit, see usage")
        if memory_swap is not None and not limit:
            raise ConfigError("--memory-swap needs a memory limit (--memory) to add swap to")
        mem = {}
        if memory is not None:
            if memory < 6 << 20:
                raise ConfigError("minimum memory limit allowed is 6MB")
            mem["limit"] = memory
        mem["swap"] = memory_swap if memory_swap is not None else 2 * limit
        res["memory"] = mem
    cpu: dict = {}
    if cpus is not None:
        if cpus <= 0 or cpus > (os.cpu_count() or 1):
            raise ConfigError(f"range of CPUs is from 0.01 to {os.cpu_count() or 1}.00, as there are only "
                              f"{os.cpu_count() or 1} CPUs available")
        cpu.update(quota=int(cpus * CPU_PERIOD), period=CPU_PERIOD)
    if cpu_shares is not None:
        cpu["shares"] = cpu_shares
    if cpuset_cpus is not None:
        cpu["cpus"] = cpuset_cpus
    if cpu:
        res["cpu"] = cpu
    if pids_limit is not None:
        res["pids"] = {"limit": pids_limit if pids_limit > 0 else -1}
    return res


def _merge(into: dict, changes: dict) -> None:
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            into[k].update(v)
        else:
            into[k] = v


def update(containers, rec, *, restart: str | None = None, **limits) -> None:
    """Apply ``limits`` (see resources()) now if the container runs, and record them."""
    import subprocess

    from .. import config
    from .lifecycle import refresh
    from .run import runtime_binary

    rec = refresh(containers, rec)
    from .backends import isolation_of

    if isolation_of(containers, rec.id) == "vm":
        return _update_vm(containers, rec, restart=restart, **limits)
    d = containers.path(rec.id)
    cfg_path = os.path.join(d, "config.json")
    with open(cfg_path) as f:
        cfg = json.loads(f.read())
    current = cfg.setdefault("linux", {}).setdefault("resources", {})
    res = resources(current=current, **limits)
    policy = None
    if restart is not None:
        policy, _, retries = restart.partition(":")
        if policy not in ("no", "always", "unless-stopped", "on-failure") or (retries and (
                policy != "on-failure" or not retries.isdigit())):
            raise ConfigError(f"--restart {restart!r}: use no, always, unless-stopped or on-failure[:N]")
        if policy != "no" and rec.auto_remove:
            raise ConfigError("cannot update the restart policy of a container started with --rm")
    if not res and policy is None:
        raise ConfigError("update: nothing to change (--memory, --memory-swap, --cpus, --cpu-shares, "
                          "--cpuset-cpus, --pids-limit, --restart)")
    if res and rec.state in ("running", "created"):
        p = subprocess.run([runtime_binary(), "--root", config.runtime_root(), "update", "--resources", "-", rec.id],
                           input=json.dumps(res), capture_output=True, text=True, check=False)
        if p.returncode != 0:
            why = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "runtime update failed"
            raise UpdateError(f"cannot update container {rec.name}: {why.removeprefix('dockyard-runtime: ')}")
    if res:
        _merge(current, res)
        tmp = cfg_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(cfg))
        os.replace(tmp, cfg_path)  # the next start reads the new limits, never half a file
    if policy is not None:
        containers.update_meta(rec.id, restart=policy, max_retries=int(retries) if retries else 0)


def _update_vm(containers, rec, *, restart: str | None = None, memory: int | None = None, **others) -> None:
    """A VM's memory through its balloon (vm/backend.update_memory): a running VM can only
    give memory back, down to 64 MiB (microvm has no memory hotplug; the balloon cannot grant
    more than the boot size); the new size is also the next boot's. vCPUs cannot change
    (no CPU hotplug) and the other limits are cgroup limits a VM does not have."""
    given = [k for k, v in others.items() if v is not None]
    if given or (restart not in (None, "no")):
        flags = [f"--{k.replace('_', '-')}" for k in given] + (["--restart"] if restart not in (None, "no") else [])
        raise ConfigError(f"update {', '.join(flags)}: not for a VM (--isolation=vm): only --memory "
                          "changes, through the memory balloon")
    if memory is None:
        raise ConfigError("update: nothing to change (a VM takes --memory)")
    if rec.state == "running":
        from .backends import VM

        b, h = VM._handle(rec)
        if h is not None:
            b.update_memory(h, memory)
    elif memory < (64 << 20):
        raise ConfigError("a VM needs at least 64 MiB of memory")
    meta = containers.meta(rec.id)
    containers.update_meta(rec.id, vm={**meta.get("vm", {}), "memory": memory})
