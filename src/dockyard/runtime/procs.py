"""Host-side process helpers: is it alive (and still the same process), how did it end,
wait for it to go, pid files, and which of our fds may reach a container."""

from __future__ import annotations

import os


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks); None if gone or a zombie.
    With the pid it identifies a process: a recycled pid has another start time."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def cloexec_inherited(preserve: int) -> None:
    """Everything above the preserved fds closes on exec (runc: only 0-2 + --preserve-fds
    reach the container); our own fds are already close-on-exec (PEP 446)."""
    keep = 3 + preserve
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def exit_description(pid: int) -> str:
    """How a dead (zombie) process ended, from /proc/PID/stat's exit_code field, without
    reaping it (it may not be our child). Empty if unknown."""
    import time

    if not pid:
        return ""
    end = time.monotonic() + 0.5  # a killed process takes a moment to become a zombie
    while True:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            return ""
        if fields[0] == b"Z" or time.monotonic() > end:
            break
        time.sleep(0.005)
    if fields[0] != b"Z" or len(fields) < 50:
        return ""
    status = int(fields[-1])
    if status & 0x7F:
        return f"killed by signal {status & 0x7F}"
    return f"exited with status {status >> 8}"


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited (a zombie counts: it holds no resources but its pid)."""
    import time

    end = time.monotonic() + timeout
    while proc_start_time(pid) is not None:
        try:
            os.waitpid(pid, os.WNOHANG)  # we may be its (sub)reaper
        except ChildProcessError:
            pass
        if time.monotonic() > end:
            return False
        time.sleep(0.002)
    return True


def write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)
