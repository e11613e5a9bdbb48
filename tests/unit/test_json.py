"""dockyard._json must agree with the standard json module, errors included."""

import json

import pytest

from dockyard import _json


@pytest.mark.parametrize("doc", ['{"a": [1, 2.5, true, false, null, "\\u00e9x"]}', "[]", " 7 ", '"s"',
                                 '{"nested": {"x": {"y": [[]]}}}', "-1e3"])
def test_roundtrip_matches_json(doc):
    assert _json.loads(doc) == json.loads(doc)
    obj = json.loads(doc)
    assert _json.dumps(obj) == json.dumps(obj, separators=(",", ":"))


@pytest.mark.parametrize("bad", ['{"a":', "", "[1] x", "nul", '{"a" 1}', "[1,]", b"\xff"])
def test_bad_documents_raise_valueerror(bad):
    with pytest.raises(ValueError):
        _json.loads(bad)


def test_dumps_refuses_unknown_types():
    with pytest.raises(TypeError):
        _json.dumps({"x": object()})
