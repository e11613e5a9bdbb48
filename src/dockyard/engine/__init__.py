"""The container engine: containers, images, networks and volumes behind the CLI (issue 3+).

Built so far: ``spec.py`` (a Docker-style run request + an image config -> an OCI runtime
spec). Not yet: container state, the monitor, the verbs.
"""
