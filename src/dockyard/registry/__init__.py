"""The OCI distribution-spec client: pull, push, login, manifest inspect, search (docs/registry.md).

    config.py       registries.json (mirrors, insecure registries), certs.d CA dirs, API host names
    transport.py    HTTP(S) over http.client: scheme choice, TLS, redirects, retries with backoff
    auth.py         WWW-Authenticate challenges, Basic, bearer tokens cached per scope
    credentials.py  ~/.docker/config.json (auths, credsStore, credHelpers) and credential helpers
    client.py       one repository's endpoints: manifests, blobs, uploads, mounts
    platform.py     --platform parsing and index entry selection
    progress.py     per-layer progress (updating lines on a TTY, plain lines otherwise, quiet)
    sources.py      which repositories a blob is known in (for cross-repository mounts)
    pull.py push.py login.py search.py   the verbs, as library calls
    inspect.py      manifest inspect --verbose: Docker's shape

Stdlib only (http.client + ssl): dockyard has no runtime dependencies.
"""
