"""A stage's image while it is being built: layers, run configuration, history, cache key.

The image written at the end is this state serialised (``config_bytes``/``manifest_bytes``).
Times are deterministic: a history entry's ``created`` is the time its step first ran (kept
in the build cache), a metadata step takes the time of the step before it, and the image's
``created`` is its last step's. So an unchanged rebuild writes the same bytes: the same ID.
"""

from __future__ import annotations

import copy
import os
import time

from .. import _json as json
from ..oci import image_spec
from ..oci.digest import digest_bytes
from .layer_diff import LayerInfo

DEFAULT_SHELL = ["/bin/sh", "-c"]
EPOCH = "1970-01-01T00:00:00Z"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def host_arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


class BuildState:
    def __init__(self, *, key: str, raw: dict | None = None, layers: list[LayerInfo] | None = None,
                 created: str = EPOCH) -> None:
        raw = raw or {}
        self.key = key
        self.platform = {k: raw[k] for k in ("architecture", "os", "variant") if raw.get(k)} or \
            {"architecture": host_arch(), "os": "linux"}
        self.config: dict = copy.deepcopy(raw.get("config") or {})
        self.history: list[dict] = copy.deepcopy(raw.get("history") or [])
        self.layers: list[LayerInfo] = list(layers or [])
        self.created = raw.get("created") or created
        self.raw_author = raw.get("author")
        self.cmd_set_in_stage = False  # an ENTRYPOINT clears an inherited CMD, not this stage's
        self.args: dict[str, str | None] = {}  # ARGs declared in this stage (None: no value)
        self.onbuild_pending: list[str] = list(self.config.get("OnBuild") or [])
        if self.config.get("OnBuild"):
            self.config["OnBuild"] = None  # triggers run in the child, are not inherited

    @classmethod
    def scratch(cls) -> BuildState:
        return cls(key="scratch")

    @classmethod
    def from_image(cls, store, img) -> BuildState:
        # Docker's layer media type inside our OCI manifest would be a mix: use the OCI twin
        docker = {image_spec.DOCKER_LAYER_GZIP: image_spec.OCI_LAYER_GZIP}
        layers = [LayerInfo(str(d), str(x.digest), x.size, docker.get(x.media_type, x.media_type))
                  for d, x in zip(img.config.diff_ids, img.manifest.layers, strict=True)]
        return cls(key=str(img.id), raw=img.config.raw, layers=layers)

    # -- what steps see -----------------------------------------------------------------
    @property
    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    @property
    def workdir(self) -> str:
        return self.config.get("WorkingDir") or "/"

    def env(self) -> dict[str, str]:
        out = {}
        for item in self.config.get("Env") or []:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    def set_env(self, key: str, value: str) -> None:
        env = self.env()
        env[key] = value
        self.config["Env"] = [f"{k}={v}" for k, v in env.items()]

    def args_in_effect(self) -> dict[str, str]:
        return {k: v for k, v in self.args.items() if v is not None}

    def expansion_env(self) -> dict[str, str]:
        """What ``$VAR`` in an instruction sees: the stage's ARGs, then ENV (ENV wins)."""
        return {**self.args_in_effect(), **self.env()}

    # -- recording steps --------------------------------------------------------------------
    def record(self, created_by: str, layer: LayerInfo | None, created: str | None = None,
               empty_layer: bool | None = None) -> None:
        if created:
            self.created = created
        h = {"created": self.created, "created_by": created_by}
        if layer is not None:
            self.layers.append(layer)
        elif empty_layer is not False:
            h["empty_layer"] = True
        self.history.append(h)

    def top_chain(self) -> str | None:
        from ..oci.digest import Digest

        if not self.layers:
            return None
        return str(image_spec.chain_ids([Digest(x.diff_id) for x in self.layers])[-1])

    # -- the image --------------------------------------------------------------------------
    def config_bytes(self, labels: dict[str, str] | None = None) -> bytes:
        cfg = copy.deepcopy(self.config)
        if labels:
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **labels}
        doc = {**self.platform, "created": self.created, "config": cfg,
               "rootfs": {"type": "layers", "diff_ids": [x.diff_id for x in self.layers]},
               "history": self.history}
        if self.raw_author:
            doc["author"] = self.raw_author
        return json.dumps(doc, sort_keys=True).encode()

    def manifest_bytes(self, config: bytes) -> bytes:
        doc = {"schemaVersion": 2, "mediaType": image_spec.OCI_MANIFEST,
               "config": {"mediaType": image_spec.OCI_CONFIG, "digest": str(digest_bytes(config)),
                          "size": len(config)},
               "layers": [{"mediaType": x.media_type, "digest": x.digest, "size": x.size} for x in self.layers]}
        return json.dumps(doc, sort_keys=True).encode()
