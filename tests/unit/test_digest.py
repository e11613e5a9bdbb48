"""OCI digests: exactly the canonical sha256/sha512 forms parse; everything else is refused."""

import hashlib
import json

import pytest

from dockyard.errors import DockyardError, StoreError
from dockyard.oci.digest import Digest, Hasher, digest_bytes

SHA256_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA512_EMPTY = "sha512:" + hashlib.sha512(b"").hexdigest()


def test_parse_sha256():
    d = Digest(SHA256_EMPTY)
    assert d.algorithm == "sha256"
    assert d.encoded == SHA256_EMPTY[7:]
    assert str(d) == SHA256_EMPTY and type(str(d)) is str
    assert d == SHA256_EMPTY and hash(d) == hash(SHA256_EMPTY)
    assert json.dumps({"digest": d}) == json.dumps({"digest": SHA256_EMPTY})
    assert Digest(d) is d
    assert repr(d) == f"Digest('{SHA256_EMPTY}')"


def test_parse_sha512():
    d = Digest(SHA512_EMPTY)
    assert (d.algorithm, len(d.encoded)) == ("sha512", 128)


def test_from_parts():
    assert Digest.from_parts("sha256", SHA256_EMPTY[7:]) == SHA256_EMPTY


@pytest.mark.parametrize("bad", [
    SHA256_EMPTY.upper(),                          # uppercase algorithm and hex
    "sha256:" + SHA256_EMPTY[7:].upper(),          # uppercase hex
    SHA256_EMPTY[:-1],                             # too short
    SHA256_EMPTY + "0",                            # too long
    "sha512:" + SHA256_EMPTY[7:],                  # sha512 with a sha256-length encoding
    "md5:d41d8cd98f00b204e9800998ecf8427e",        # unknown algorithm
    "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",  # grammar-valid, unregistered
    SHA256_EMPTY[7:],                              # missing algorithm and colon
    "sha256" + SHA256_EMPTY[7:],                   # missing colon
    "sha256:",                                     # empty encoding
    ":" + SHA256_EMPTY[7:],                        # empty algorithm
    "",
    "sha256:../../x",                              # path tricks
    "sha256:../../" + SHA256_EMPTY[13:],
    "sha256:" + SHA256_EMPTY[7:-1] + "/",
    "../sha256:" + SHA256_EMPTY[7:],
    "sha256:" + SHA256_EMPTY[7:-1] + "g",          # not hex
    " " + SHA256_EMPTY,                            # whitespace is not trimmed
    SHA256_EMPTY + "\n",
])
def test_rejects(bad):
    with pytest.raises(StoreError) as info:
        Digest(bad)
    assert repr(bad)[:40] in str(info.value)  # the message names the digest
    assert info.value.code == "store"
    assert isinstance(info.value, DockyardError)


def test_rejects_non_strings():
    with pytest.raises(StoreError):
        Digest(b"sha256:" + SHA256_EMPTY[7:].encode())


def test_long_garbage_is_shortened_in_the_message():
    with pytest.raises(StoreError) as info:
        Digest("x" * 10_000)
    assert len(str(info.value)) < 300


def test_digest_bytes():
    assert digest_bytes(b"") == SHA256_EMPTY
    assert digest_bytes(b"", "sha512") == SHA512_EMPTY
    assert isinstance(digest_bytes(b"x"), Digest)
    with pytest.raises(StoreError):
        digest_bytes(b"", "md5")


def test_hasher_streams():
    data = bytes(range(256)) * 1000
    h = Hasher()
    for i in range(0, len(data), 4096):
        h.update(data[i:i + 4096])
    assert h.digest() == digest_bytes(data)
    assert h.size == len(data)
    # digest() does not finish the hash: more data may follow
    h.update(b"tail")
    assert h.digest() == digest_bytes(data + b"tail")


def test_hasher_counts_bytes_of_wide_memoryviews():
    h = Hasher("sha512")
    h.update(memoryview(b"\0" * 16).cast("I"))
    assert h.size == 16
    assert h.digest() == digest_bytes(b"\0" * 16, "sha512")


def test_hasher_rejects_unknown_algorithm():
    with pytest.raises(StoreError):
        Hasher("sha1")
