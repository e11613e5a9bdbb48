"""OCI content digests: ``algorithm:encoded``, as the image-spec defines them.

Only the two registered algorithms are accepted, each with its exact canonical encoding:

    sha256:<64 lowercase hex>      sha512:<128 lowercase hex>

Everything else (uppercase hex, other lengths, unknown or unregistered algorithms) is refused
rather than normalised: a digest names a file in the blob store and travels in manifests, so
two spellings of the same digest, or a "digest" such as ``sha256:../../x``, must never get past
parsing. Pure: no file access, and no ``re`` (it costs milliseconds to import on the hot path).
"""

from __future__ import annotations

from dockyard.errors import StoreError

# algorithm -> length of its lowercase-hex encoding
ALGORITHMS = {"sha256": 64, "sha512": 128}
_HEX = frozenset("0123456789abcdef")


def _show(value: object) -> str:
    """The offending value for an error message: quoted, and short even if the input is not."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        supported = ", ".join(ALGORITHMS)
        raise StoreError(f"unsupported digest algorithm {_show(algorithm)} (supported: {supported})")


class Digest(str):
    """A validated digest. A ``str`` so it can be a dict key, go into JSON and compare with
    plain strings as is; constructing one is the validation, so holding one is proof."""

    __slots__ = ()

    def __new__(cls, value: str) -> Digest:
        if type(value) is cls:
            return value
        if not isinstance(value, str):
            raise StoreError(f"invalid digest {_show(value)}: not a string")
        algorithm, sep, encoded = value.partition(":")
        if not sep:
            raise StoreError(f"invalid digest {_show(value)}: expected algorithm:encoded")
        if algorithm not in ALGORITHMS:
            supported = ", ".join(ALGORITHMS)
            raise StoreError(f"invalid digest {_show(value)}: unsupported algorithm (supported: {supported})")
        length = ALGORITHMS[algorithm]
        if len(encoded) != length or not _HEX.issuperset(encoded):
            raise StoreError(f"invalid digest {_show(value)}: {algorithm} needs {length} lowercase hex characters")
        return super().__new__(cls, value)

    @classmethod
    def from_parts(cls, algorithm: str, encoded: str) -> Digest:
        return cls(f"{algorithm}:{encoded}")

    @property
    def algorithm(self) -> str:
        return self.partition(":")[0]

    @property
    def encoded(self) -> str:
        return self.partition(":")[2]

    def __repr__(self) -> str:
        return f"Digest({str.__repr__(self)})"


def digest_bytes(data: bytes, algorithm: str = "sha256") -> Digest:
    _check_algorithm(algorithm)
    import hashlib  # OpenSSL's _hashlib costs 2-3 ms to load: only when something is hashed

    return Digest.from_parts(algorithm, hashlib.new(algorithm, data).hexdigest())


class Hasher:
    """Streaming digest: feed chunks with ``update``; ``digest()`` may be called at any point
    (it does not finish the underlying hash, so more updates can follow)."""

    __slots__ = ("algorithm", "size", "_hash")

    def __init__(self, algorithm: str = "sha256") -> None:
        _check_algorithm(algorithm)
        self.algorithm = algorithm
        self.size = 0  # bytes fed so far: callers verify a size alongside the digest
        import hashlib

        self._hash = hashlib.new(algorithm)

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        # nbytes, not len(): a memoryview of wider items has fewer items than bytes
        self.size += data.nbytes if isinstance(data, memoryview) else len(data)

    def digest(self) -> Digest:
        return Digest.from_parts(self.algorithm, self._hash.hexdigest())
