"""The OCI image-spec JSON schemas (shared/reference/image-spec-schema) as validators, for the
tests that check every manifest, index, config and oci-layout document dockyard writes.

The schemas are draft-04 and `$ref` each other by relative names ("defs.json",
"content-descriptor.json") resolved against ids that differ per file and even per
property (".../schema/descriptor", ".../schema/image/manifest/annotations"), so one base
URI per file does not cover them all. The registry therefore resolves any
https://opencontainers.org/schema/... URI by its last path component from the local
directory, and refuses everything else: validation never touches the network.
"""

from __future__ import annotations

import json
import os
import re

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4
from support import shared_reference

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_TYPES = ("application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
                "application/vnd.docker.container.image.v1+json")
SCHEMA_FILES = {OCI_MANIFEST: "image-manifest-schema.json", OCI_INDEX: "image-index-schema.json",
                OCI_CONFIG: "config-schema.json", "oci-layout": "image-layout-schema.json"}
_HOST = "https://opencontainers.org/schema/"

# RFC 3339 date-time (the schemas' "format": "date-time"); jsonschema checks that format only
# with an optional package installed, so the test brings its own, strict check.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class Schemas:
    """One validator per document kind, built from the local schema files."""

    def __init__(self) -> None:
        d = shared_reference("image-spec-schema")
        self.resources = {}
        for name in os.listdir(d):
            if name.endswith(".json"):
                with open(os.path.join(d, name)) as f:
                    self.resources[name] = Resource.from_contents(json.load(f), default_specification=DRAFT4)
        missing = set(SCHEMA_FILES.values()) - set(self.resources)
        assert not missing, f"image-spec schemas missing from {d}: {missing}"
        registry = Registry(retrieve=self._retrieve)
        for r in self.resources.values():
            if r.id():
                registry = registry.with_resource(r.id(), r)
        formats = jsonschema.FormatChecker()
        formats.checks("date-time")(lambda s: not isinstance(s, str) or bool(_RFC3339.match(s)))
        self.validators = {kind: jsonschema.Draft4Validator(self.resources[f].contents, registry=registry,
                                                            format_checker=formats)
                           for kind, f in SCHEMA_FILES.items()}

    def _retrieve(self, uri: str) -> Resource:
        name = uri.split("#", 1)[0].rsplit("/", 1)[-1]
        if uri.startswith(_HOST) and name in self.resources:
            return self.resources[name]
        raise NoSuchResource(ref=uri)  # not a local schema: never fetched

    def errors(self, kind: str, doc) -> list[str]:
        """What is wrong with ``doc`` as a ``kind`` (a media type or "oci-layout")."""
        return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in self.validators[kind].iter_errors(doc)]

    def check(self, kind: str, data: bytes, where: str) -> None:
        """Assert that ``data`` is a valid ``kind``; the message names the document."""
        doc = json.loads(data)
        errs = self.errors(kind, doc)
        assert not errs, f"{where} ({kind}) does not validate:\n  " + "\n  ".join(errs)
        if kind in (OCI_MANIFEST, OCI_INDEX):
            # the schemas allow mediaType to be absent; image-spec says SHOULD, and when
            # present it must be the kind the document was used as
            assert doc.get("mediaType", kind) == kind, f"{where}: mediaType {doc.get('mediaType')!r}, used as {kind}"


def check_image(schemas: Schemas, manifest: bytes, manifest_type: str, blob, where: str) -> int:
    """Validate an image's manifest and, through it, its config (``blob(digest)`` gives a blob's
    bytes). Returns how many documents were validated (0 for Docker v2.2 ones, kept as received)."""
    if manifest_type in DOCKER_TYPES:
        # Docker's v2.2 schema is not OCI's; such a manifest is stored byte for byte as a
        # registry or archive gave it (its digest is its name), so there is nothing of ours to check.
        return 0
    schemas.check(manifest_type, manifest, f"{where} manifest")
    cfg = json.loads(manifest)["config"]
    if cfg["mediaType"] in DOCKER_TYPES:
        return 1  # a Docker config kept as received, as above
    schemas.check(cfg["mediaType"], blob(cfg["digest"]), f"{where} config {cfg['digest']}")
    return 2
