# Set-up and entry points. Everything installs into .venv/ (the pyenv shim costs ~80 ms per
# start; a venv interpreter 7-9 ms, which matters on the container start path).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
APT_PKGS := busybox-static libseccomp2 containerd runc crun hyperfine zstd conmon skopeo debootstrap podman tini docker-registry apache2-utils openssl umoci time dnsmasq-base iperf3 iproute2 qemu-system-x86 strace
export DOCKYARD_RUNTIME_ROOT ?= /run/dockyard/runtime

.PHONY: all deps venv demo test test-unit test-integration bench clean

all: venv

# System packages the runtime and its tests use (Debian 12). Only installs what is missing.
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/dockyard-runtime: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m dockyard.launcher $(BIN)
	$(BIN)/python -m compileall -q src/dockyard
	@touch $@

venv: $(BIN)/dockyard-runtime

demo: deps venv
	$(BIN)/python -m dockyard.demo

test: deps venv
	$(BIN)/pytest -q -ra tests

test-unit: venv
	$(BIN)/pytest -q tests/unit

bench: deps venv
	benchmarks/runtime.sh

clean:
	rm -rf $(VENV) build .pytest_cache
