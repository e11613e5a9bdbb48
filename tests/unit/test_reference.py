"""Reference parsing and normalization, as Docker does it."""

import pytest

from dockyard.errors import ConfigError
from dockyard.oci.reference import parse

D = "sha256:" + "c" * 64


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("docker.io/library/debian:bookworm", "docker.io/library/debian:bookworm", "debian:bookworm"),
    ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest"),
    ("localhost/x:dev", "localhost/x:dev", "localhost/x:dev"),
    ("ghcr.io/o/r/sub:v1.2-rc_3", "ghcr.io/o/r/sub:v1.2-rc_3", "ghcr.io/o/r/sub:v1.2-rc_3"),
    (f"quay.io/a/b@{D}", f"quay.io/a/b@{D}", f"quay.io/a/b@{D}"),
    (f"busybox:1@{D}", f"docker.io/library/busybox:1@{D}", f"busybox:1@{D}"),
    ("a__b/c-d.e", "docker.io/a__b/c-d.e:latest", "a__b/c-d.e:latest"),
    ("127.0.0.1:5000/img:tag", "127.0.0.1:5000/img:tag", "127.0.0.1:5000/img:tag"),
])
def test_good(text, full, familiar):
    r = parse(text)
    assert str(r) == full and r.familiar() == familiar


@pytest.mark.parametrize("text", ["", "Busybox", "a b", "a:", "a:-x", "/a", "a/", "a//b", "a@sha256:zz",
                                  "-a", "a-", "a..b", "a___b", "x" * 5000, "a:" + "t" * 200])
def test_bad(text):
    with pytest.raises(ConfigError):
        parse(text)
