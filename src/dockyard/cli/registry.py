"""Registry verbs: pull, push, login, logout, manifest inspect, search (docs/registry.md)."""

from __future__ import annotations

import sys

from ..errors import ConfigError, DockyardError


def _flags(argv: list[str], valued: tuple[str, ...], switches: tuple[str, ...], verb: str):
    """(options, positional): ``--platform x`` / ``--platform=x`` and switches such as ``-q``."""
    opts, pos, i = {}, [], 0
    while i < len(argv):
        a = argv[i]
        name, eq, val = a.partition("=")
        if name in valued:
            if not eq:
                if i + 1 >= len(argv):
                    raise ConfigError(f"{verb}: option {a} needs a value")
                i, val = i + 1, argv[i + 1]
            opts[name] = val
        elif a in switches:
            opts[a] = True
        elif a.startswith("-") and a != "-":
            raise ConfigError(f"{verb}: unknown option {a}")
        else:
            pos.append(a)
        i += 1
    return opts, pos


def _fail(what: str, e: DockyardError) -> int:
    sys.stderr.write(f"dockyard: {what}: {e}\n")
    return 1


def _store():
    from .. import config
    from ..image.store import ImageStore

    return ImageStore(config.storage_root())


def cmd_pull(argv: list[str]) -> int:
    from ..registry import platform
    from ..registry.progress import Progress
    from ..registry.pull import pull

    opts, pos = _flags(argv, ("--platform",), ("-q", "--quiet", "--insecure"), "pull")
    if len(pos) != 1:
        raise ConfigError("pull: [-q] [--platform os/arch[/variant]] [--insecure] NAME[:TAG|@DIGEST]")
    want = platform.parse(opts["--platform"]) if "--platform" in opts else None
    quiet = opts.get("-q") or opts.get("--quiet")
    store = _store()
    try:
        r = pull(store, pos[0], platform=want, insecure=bool(opts.get("--insecure")),
                 progress=Progress("quiet" if quiet else "auto"))
    except DockyardError as e:
        return _fail(f"pull {pos[0]}", e)
    finally:
        store.close()
    if not quiet:
        print(f"Status: Downloaded image for {r.reference.familiar()}")
    print(str(r.reference))
    return 0


def cmd_push(argv: list[str]) -> int:
    from ..registry.progress import Progress
    from ..registry.push import push

    opts, pos = _flags(argv, (), ("-q", "--quiet", "--insecure"), "push")
    if len(pos) != 1:
        raise ConfigError("push: [-q] [--insecure] NAME[:TAG]")
    quiet = opts.get("-q") or opts.get("--quiet")
    store = _store()
    try:
        digest, _ = push(store, pos[0], insecure=bool(opts.get("--insecure")),
                         progress=Progress("quiet" if quiet else "auto"))
    except DockyardError as e:
        return _fail(f"push {pos[0]}", e)
    finally:
        store.close()
    if quiet:
        print(digest)
    return 0


def cmd_login(argv: list[str]) -> int:
    from ..registry.login import login

    opts, pos = _flags(argv, ("-u", "--username", "-p", "--password"), ("--password-stdin", "--insecure"), "login")
    if len(pos) > 1:
        raise ConfigError("login: [-u USER] [-p PASSWORD | --password-stdin] [--insecure] [SERVER]")
    user = opts.get("-u") or opts.get("--username")
    secret = opts.get("-p") or opts.get("--password")
    if opts.get("--password-stdin"):
        if secret:
            raise ConfigError("login: --password and --password-stdin are mutually exclusive")
        secret = sys.stdin.readline().rstrip("\r\n")
    if not user:
        if not sys.stdin.isatty():
            raise ConfigError("login: -u USER is required when stdin is not a terminal")
        user = input("Username: ").strip()
    if not secret:
        if not sys.stdin.isatty():
            raise ConfigError("login: a password is required (-p or --password-stdin)")
        import getpass

        secret = getpass.getpass("Password: ")
    if not user or not secret:
        raise ConfigError("login: username and password must not be empty")
    server = pos[0] if pos else None
    try:
        login(server, user, secret, insecure=bool(opts.get("--insecure")))
    except DockyardError as e:
        return _fail(f"login {server or 'docker.io'}", e)
    print("Login Succeeded")
    return 0


def cmd_logout(argv: list[str]) -> int:
    from ..registry.login import logout

    if len(argv) > 1 or any(a.startswith("-") for a in argv):
        raise ConfigError("logout: [SERVER]")
    registry, found = logout(argv[0] if argv else None)
    if not found:
        print(f"Not logged in to {registry}")
    else:
        print(f"Removing login credentials for {registry}")
    return 0


def cmd_manifest(argv: list[str]) -> int:
    """`manifest inspect [-v] NAME`: the manifest or index as the registry serves it; with
    ``-v`` Docker's verbose shape (registry/inspect.py), one entry per manifest of an index."""
    import json

    from ..oci import reference
    from ..registry.config import RegistriesConfig
    from ..registry.pull import fetch_manifest

    if not argv or argv[0] != "inspect":
        raise ConfigError("manifest: only 'manifest inspect [-v] [--insecure] NAME' is built")
    opts, pos = _flags(argv[1:], (), ("--insecure", "-v", "--verbose"), "manifest inspect")
    if len(pos) != 1:
        raise ConfigError("manifest inspect: [-v] [--insecure] NAME[:TAG|@DIGEST]")
    try:
        ref = reference.parse(pos[0])
        repo, data, media_type, digest = fetch_manifest(ref, RegistriesConfig.load(), bool(opts.get("--insecure")))
        if opts.get("-v") or opts.get("--verbose"):
            from ..registry.inspect import verbose

            doc = verbose(repo, ref, data, media_type, digest)
        else:
            doc = json.loads(data)
    except DockyardError as e:
        return _fail(f"manifest inspect {pos[0]}", e)
    print(json.dumps(doc, indent=3))
    return 0


SEARCH_FORMAT = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"
SEARCH_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL",
                  "IsAutomated": "AUTOMATED"}
DESCRIPTION_WIDTH = 45  # docker search truncates descriptions to this, with an ellipsis


def _search_row(r, trunc: bool) -> dict:
    desc = r.description.replace("\r", " ").replace("\n", " ")
    if trunc and len(desc) > DESCRIPTION_WIDTH:
        desc = desc[:DESCRIPTION_WIDTH - 1] + "\u2026"
    # Docker prints booleans as "[OK]" or nothing, in the table and in --format alike
    return {"Name": r.name, "Description": desc, "StarCount": str(r.star_count),
            "IsOfficial": "[OK]" if r.is_official else "", "IsAutomated": "[OK]" if r.is_automated else ""}


def _tabwriter(lines: list[str]) -> str:
    """Docker's table writer (min width 10, padding 3): tab-separated cells in columns."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 10), len(cell) + 3)
    return "".join("".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + row[-1] + "\n" for row in rows)


def render_search(results, template: str, trunc: bool) -> str:
    from .containers import _render

    rows = [_search_row(r, trunc) for r in results]
    if template.startswith("table"):
        body = template[len("table"):].strip() or SEARCH_FORMAT[len("table "):]
        lines = [_render(body, SEARCH_HEADERS)] + [_render(body, row) for row in rows]
        return _tabwriter([line.replace("\\t", "\t") for line in lines])
    return "".join(_render(template, row) + "\n" for row in rows)


def cmd_search(argv: list[str]) -> int:
    """`search [--limit N] [--format T] [--no-trunc] [--insecure] [REGISTRY/]TERM`."""
    from ..registry import credentials
    from ..registry.search import search, split_term

    opts, pos = _flags(argv, ("--limit", "--format"), ("--no-trunc", "--insecure"), "search")
    if len(pos) != 1:
        raise ConfigError("search: [--limit N] [--format TEMPLATE] [--no-trunc] [--insecure] [REGISTRY/]TERM")
    raw_limit = opts.get("--limit", "25")
    if not raw_limit.isdigit() or int(raw_limit) < 1:
        raise ConfigError(f"search: --limit must be a positive number, not {raw_limit!r}")
    try:
        creds = credentials.get(split_term(pos[0])[0])
        _, results = search(pos[0], limit=int(raw_limit), insecure=bool(opts.get("--insecure")), credentials=creds)
    except DockyardError as e:
        return _fail(f"search {pos[0]}", e)
    sys.stdout.write(render_search(results, opts.get("--format", SEARCH_FORMAT), not opts.get("--no-trunc")))
    return 0
