"""Image verbs: images, rmi, bootstrap, save, load, import, tag, history, image prune,
system df, and inspect (containers or images)."""

from __future__ import annotations

import os
import sys

from .common import _with, option


def cmd_images(argv: list[str]) -> int:
    from ..oci import reference

    def go(im, c):
        print(f"{'REPOSITORY':<40} {'TAG':<12} {'IMAGE ID':<14} {'CREATED':<22} SIZE")
        for img in im.list():
            for r in [reference.parse(t) for t in img.tags] or [None]:
                repo = r.familiar().rsplit(":", 1)[0] if r else "<none>"
                tag = r.tag if r else "<none>"
                print(f"{repo:<40} {tag:<12} {img.short_id:<14} {img.created:<22} {img.size / 1e6:.1f}MB")
        return 0
    return _with(go)


def cmd_rmi(argv: list[str]) -> int:
    def go(im, c):
        for ref in [x for x in argv if not x.startswith("-")]:
            for line in im.remove(ref, force="-f" in argv):
                print(line)
        im.gc()
        return 0
    return _with(go)


def cmd_bootstrap(argv: list[str]) -> int:
    from ..errors import ConfigError
    from ..image.base import make_busybox, make_debian

    what = argv[0] if argv else ""
    name, _, suite = what.partition(":")
    if name not in ("busybox", "debian"):
        raise ConfigError("bootstrap: busybox, or debian[:SUITE] (debootstrap from a Debian mirror)")

    def go(im, c):
        if name == "busybox":
            img = make_busybox(im)
            print(f"busybox:latest {img.id}")
        else:
            img = make_debian(im, suite or "bookworm")
            print(f"debian:{suite or 'bookworm'} {img.id}")
        return 0
    return _with(go)


def cmd_save(argv: list[str]) -> int:
    from ..errors import ConfigError
    from ..image.archive import save

    out, refs = option(argv, ("-o", "--output"))
    if not refs:
        raise ConfigError("save: name at least one image")
    if out is None and sys.stdout.isatty():
        raise ConfigError("save: refusing to write an archive to a terminal (use -o FILE or a redirect)")

    def go(im, c):
        if out is None:
            save(im, refs, sys.stdout.buffer)
            return 0
        tmp = out + ".tmp"
        with open(tmp, "wb") as f:  # a half-written archive never takes the final name
            save(im, refs, f)
        os.replace(tmp, out)
        return 0
    return _with(go)


def cmd_load(argv: list[str]) -> int:
    from ..errors import ConfigError
    from ..image.archive import load

    path = None
    for i, a in enumerate(argv):
        if a in ("-i", "--input") and i + 1 < len(argv):
            path = argv[i + 1]
    if path is None:
        raise ConfigError("load: -i FILE is required (reading stdin is not built yet)")

    def go(im, c):
        for line in load(im, path):
            print(line)
        return 0
    return _with(go)


def cmd_import(argv: list[str]) -> int:
    from ..errors import ConfigError
    from ..image.importer import import_tarball

    message, rest = option(argv, ("-m", "--message"), default="")
    if not rest or len(rest) > 2:
        raise ConfigError("import: FILE|- [REPOSITORY[:TAG]]")

    def go(im, c):
        if rest[0] == "-":
            img = import_tarball(im, sys.stdin.buffer, rest[1] if len(rest) > 1 else None, message)
        else:
            with open(rest[0], "rb") as f:
                img = import_tarball(im, f, rest[1] if len(rest) > 1 else None, message)
        print(img.id)
        return 0
    return _with(go)


def cmd_tag(argv: list[str]) -> int:
    from ..errors import ConfigError

    if len(argv) != 2:
        raise ConfigError("tag: SOURCE TARGET")
    return _with(lambda im, c: im.tag(im.resolve(argv[0]).id, argv[1]) and 0)


def cmd_history(argv: list[str]) -> int:
    def go(im, c):
        img = im.resolve(argv[0])
        print(f"{'CREATED':<22} {'CREATED BY':<60} COMMENT")
        for h in reversed(img.config.history):
            print(f"{h.get('created', ''):<22} {h.get('created_by', '')[:60]:<60} {h.get('comment', '')}")
        return 0
    return _with(go)


def cmd_image_prune(argv: list[str]) -> int:
    all_ = "-a" in argv or "--all" in argv

    def go(im, c):
        used = {r.image for r in c.list()}
        for img in im.list():
            if str(img.id) in used or (img.tags and not all_):
                continue
            im.db.execute("DELETE FROM images WHERE id = ?", (str(img.id),))
            print(f"Deleted: {img.id}")
        removed = im.gc()
        print(f"Reclaimed: {len(removed['blobs'])} blobs, {len(removed['snapshots'])} unpacked layers")
        return 0
    return _with(go)


def cmd_system_df(argv: list[str]) -> int:
    def du(path: str) -> int:
        total = 0
        for dirpath, _, files in os.walk(path):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
                except OSError:
                    pass
        return total

    def go(im, c):
        imgs, ctrs = im.list(), c.list()
        rows = [("Images", len(imgs), du(os.path.join(im.root, "blobs"))),
                ("Unpacked layers", len(os.listdir(im.snapshots.dir)), du(im.snapshots.dir)),
                ("Containers", len(ctrs), sum(du(os.path.join(c.path(r.id), "upper")) for r in ctrs))]
        print(f"{'TYPE':<18} {'TOTAL':>6} {'SIZE':>10}")
        for name, n, size in rows:
            print(f"{name:<18} {n:>6} {size / 1e6:>8.1f}MB")
        return 0
    return _with(go)


def cmd_inspect(argv: list[str]) -> int:
    import json

    from ..engine.lifecycle import inspect
    from ..errors import NotFound

    def go(im, c):
        out = []
        for ref in argv:
            try:
                out.append(inspect(c, c.get(ref)))
            except NotFound:
                img = im.resolve(ref)
                from ..oci import reference

                out.append({"Id": str(img.id), "RepoTags": [reference.parse(t).familiar() for t in img.tags],
                            "RepoDigests": [reference.parse(d).familiar() for d in img.repo_digests], "Created": img.created, "Size": img.size,
                            "Os": img.config.os, "Architecture": img.config.architecture,
                            "Config": img.config.config,
                            "RootFS": {"Type": "layers", "Layers": [str(x) for x in img.config.diff_ids]}})
        print(json.dumps(out, indent=4))
        return 0
    return _with(go)
