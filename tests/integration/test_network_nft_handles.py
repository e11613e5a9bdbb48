"""One `nft` run per attach and per detach (rule handles recorded at add time, see nft.py),
and rules still removed exactly when the record is stale: a rule deleted by hand, or the
whole table deleted and made again (its handles start over, so an old handle now names
another container's rule)."""

from __future__ import annotations

import json
import subprocess

from network_fixtures import free_port, sh

pytest_plugins = ["network_fixtures"]  # netw and the leak checks

A, B, C, D = (x * 64 for x in "abcd")


def dnat_rules() -> dict[str, list[int]]:
    """Handles of the DNAT rules in the published chain, by container id."""
    out: dict[str, list[int]] = {}
    listing = json.loads(sh("nft", "-j", "list", "chain", "ip", "dockyard", "published").stdout)["nftables"]
    for o in listing:
        if "rule" in o:
            out.setdefault(o["rule"]["comment"].split()[2], []).append(o["rule"]["handle"])
    return out


def count_nft(monkeypatch) -> list[list[str]]:
    calls: list[list[str]] = []
    real = subprocess.run

    def run(argv, *a, **kw):
        if argv and argv[0] == "nft":
            calls.append(list(argv))
        return real(argv, *a, **kw)

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def test_one_nft_run_per_attach_and_detach(netw, monkeypatch):
    a, b = netw.netns(), netw.netns()
    netw.attach(A, a, publish=[str(free_port()) + ":80"])  # makes the bridge and the table
    calls = count_nft(monkeypatch)
    netw.attach(B, b, publish=[str(free_port()) + ":80", str(free_port()) + ":81/udp"])
    assert len(calls) == 1 and calls[0][:2] == ["nft", "-e"], calls
    assert len(dnat_rules()[B]) == 2
    calls.clear()
    netw.detach(B)
    assert len(calls) == 1, calls
    assert B not in dnat_rules() and len(dnat_rules()[A]) == 1
    calls.clear()
    netw.attach(B, b)  # no ports: no nft at all, either way
    netw.detach(B)
    assert calls == []
    netw.detach(A)
    netw.down_default()


def test_a_rule_deleted_by_hand_falls_back_to_listing(netw):
    a, b = netw.netns(), netw.netns()
    netw.attach(A, a, publish=[str(free_port()) + ":80", str(free_port()) + ":81"])
    netw.attach(B, b, publish=[str(free_port()) + ":80"])
    sh("nft", "delete", "rule", "ip", "dockyard", "published", "handle", str(dnat_rules()[A][0]))
    netw.detach(A)  # the recorded pair fails as a batch; the one left is found by its comment
    assert A not in dnat_rules() and len(dnat_rules()[B]) == 1
    netw.detach(B)
    netw.down_default()


def test_a_table_made_again_does_not_take_another_containers_rule(netw):
    c, d = netw.netns(), netw.netns()
    netw.attach(C, c, publish=[str(free_port()) + ":80"])
    old = dnat_rules()[C]
    sh("nft", "delete", "table", "ip", "dockyard")  # someone flushed our table
    netw.attach(D, d, publish=[str(free_port()) + ":80"])  # the table and network rules made again
    assert dnat_rules()[D] == old  # handles started over: C's recorded handle now names D's rule
    netw.detach(C)
    assert dnat_rules()[D] == old  # untouched: C's record was for the old table
    netw.detach(D)
    assert D not in dnat_rules()
    netw.down_default()
