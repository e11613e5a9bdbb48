"""Unpack the layers of one chain at the same time, each in its own helper process.

A layer in overlay form (layer.py) never reads the layers below it: its whiteouts become 0:0
character devices and opaque xattrs in its own directory, and a hardlink in a layer tar can
only name a file earlier in the same tar. So every layer of a chain can be applied at once,
each into its snapshot's temp directory (Snapshots.begin); only publishing (the rename into
place, after the parent's) keeps chain order, and the store's rule stays: a snapshot appears
under its key only when complete, its parent first.

Why processes: applying a layer is CPU-bound Python on top of the file syscalls (tar header
parsing, path checks; measured: about half of it is gzip + the DiffID hash, the rest tarfile
and our per-entry work), and threads would share one GIL (measured slower than one layer after
the other). Why exec'd helpers and not os.fork: the caller may hold threads (the pull's
downloads), and a fork of a threaded process can deadlock the child (DESIGN.md §3).

    caller (main thread)            layer thread (one per layer)        helper (python -c)
    --------------------            ----------------------------        ------------------
    start(key, diff_id, source)  -> wait for a slot (JOBS at once)
                                    Popen: stdin = the blob file     -> apply_layer(stdin, fs,
                                      or a pipe it copies source into     diff_id); drain stdin
                                    read stdout, wait                <- exit 0, or "error MSG"
    commit(key, parent)          <- done: error or None                  on stdout and exit 1
      publish(tmp, key, parent) in chain order
    close(): kill helpers still running, join threads, discard unpublished temp dirs

A helper dies with its layer thread (PR_SET_PDEATHSIG), so a killed dockyard leaves at most
``.tmp-*`` directories, which ``Snapshots.gc_temp`` collects.
"""

from __future__ import annotations

import os
import sys
import threading

# Helpers at once. More than the CPUs: half of a layer's time is waiting on file creation,
# and the layers of an image differ a lot in size (the small ones finish beside a big one).
JOBS = 4


class _Job:
    __slots__ = ("diff_id", "done", "error", "key", "proc", "published", "source", "tmp")

    def __init__(self, key: str, diff_id, source, tmp: str) -> None:
        self.key, self.diff_id, self.source, self.tmp = key, diff_id, source, tmp
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.proc = None
        self.published = False


class LayerJobs:
    """Fill snapshots of one chain concurrently; the caller commits them in chain order."""

    def __init__(self, snapshots, jobs: int = JOBS) -> None:
        self.snapshots = snapshots
        self._slots = threading.Semaphore(jobs)
        self._jobs: dict[str, _Job] = {}
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._lock = threading.Lock()  # between a helper's start and close()'s kill

    def __contains__(self, key: str) -> bool:
        return key in self._jobs

    def start(self, key: str, diff_id, source, on_start=None) -> None:
        """Apply a layer into a fresh temp dir for ``key``. ``source()`` opens the layer's
        bytes: a real file is the helper's stdin as is, anything else (a LayerReader) is
        copied into a pipe. ``on_start()`` runs when the helper starts (progress)."""
        job = _Job(key, diff_id, source, self.snapshots.begin())
        self._jobs[key] = job
        t = threading.Thread(target=self._run, args=(job, on_start), name=f"unpack-{key[-12:]}", daemon=True)
        self._threads.append(t)
        t.start()

    def commit(self, key: str, parent: str | None, check=None) -> str:
        """Wait for ``key``'s helper and publish its snapshot on ``parent`` (already committed).
        ``check()``, called first, may raise an error that explains a failure better (the
        download's, when the layer was read as it arrived)."""
        job = self._jobs[key]
        job.done.wait()
        if check is not None:
            check()
        if job.error is not None:
            raise job.error
        fs = self.snapshots.publish(job.tmp, key, parent)
        job.published = True
        return fs

    def close(self) -> None:
        """Stop what still runs (after an error), wait for the layer threads and remove every
        temp dir not published."""
        with self._lock:
            self._closing = True
            for job in self._jobs.values():
                if job.proc is not None and job.proc.poll() is None:
                    job.proc.kill()
        for t in self._threads:
            t.join()
        for job in self._jobs.values():
            if not job.published:
                self.snapshots.discard(job.tmp)

    # -- one layer, on its own thread ---------------------------------------------------------
    def _run(self, job: _Job, on_start) -> None:
        try:
            with self._slots:
                if self._closing:
                    return
                if on_start is not None:
                    on_start()
                with job.source() as src:
                    self._apply(job, src)
        except BaseException as e:  # noqa: BLE001 - handed to commit(), raised on the caller's thread
            job.error = e
        finally:
            job.done.set()

    def _apply(self, job: _Job, src) -> None:
        import io
        import subprocess

        import dockyard

        try:
            src.fileno()
            stdin = src
        except (OSError, io.UnsupportedOperation):
            stdin = subprocess.PIPE
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
        code = (f"import sys; sys.path.insert(0, {pkg_parent!r}); "
                "from dockyard.image.layer_jobs import helper_main; sys.exit(helper_main(sys.argv[1:]))")
        with self._lock:
            if self._closing:
                return
            job.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", code, os.path.join(job.tmp, "fs"), str(job.diff_id or ""),
                 str(os.getpid())], stdin=stdin, stdout=subprocess.PIPE, close_fds=True)
        p = job.proc
        try:
            if stdin is subprocess.PIPE:
                _copy(src, p.stdin)  # and close it: the helper reads to EOF
            out = p.stdout.read()
        finally:
            if p.stdin is not None:
                try:
                    p.stdin.close()
                except BrokenPipeError:
                    pass  # the helper stopped early: its status says why
            p.stdout.close()
            rc = p.wait()
        if rc != 0:
            from .layer import LayerError

            msg = out.decode(errors="replace").strip().removeprefix("error ")
            raise LayerError(msg or f"unpacking layer {job.key}: the helper exited with status {rc}")


def _copy(src, dst) -> None:
    """The layer's bytes into the helper's pipe; a helper that stopped reading (it failed)
    ends the copy, and its exit status tells why."""
    try:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
        dst.close()
    except BrokenPipeError:
        pass


def helper_main(argv: list[str]) -> int:
    """In the helper: apply the layer on stdin to argv[0], check the DiffID argv[1] (when not
    empty); argv[2] is the pid of the dockyard that started us (gone: stop at once)."""
    fs, diff_id, owner = argv
    try:
        import signal

        from .._sys import libc

        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != int(owner):
            return 1  # the starter died before the death signal was armed
        from .layer import apply_layer

        stdin = os.fdopen(0, "rb", 1 << 20, closefd=False)
        apply_layer(stdin, fs, diff_id=diff_id or None)
        while stdin.read(1 << 20):
            pass  # bytes after the tar (or its compression) end: read, so the copier finishes
        return 0
    except BaseException as e:  # noqa: BLE001 - Ctrl-C included: reported as data, raised by the starter
        from ..errors import DockyardError

        msg = str(e) if isinstance(e, DockyardError) else f"{type(e).__name__}: {e}"
        os.write(1, f"error {msg}\n".encode(errors="replace"))
        return 1
