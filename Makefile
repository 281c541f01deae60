# ganyun: `make demo` for a newcomer, `make test` for CI.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
LAB_DIR ?= .lab
DEBIAN_PACKAGES := postgresql qemu-utils chromium openssl prometheus

.PHONY: install system-deps demo test lint typecheck unit bench clean

$(VENV)/.installed: pyproject.toml
	$(MAKE) --no-print-directory system-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,libvirt]'
	$(PY) -m lab.vsphere.build >/dev/null
	touch $@

install: $(VENV)/.installed

# Debian packages the real peers need (PostgreSQL, qemu-img, Chromium, libvirt's headers for its
# Python binding, Go and govmomi for the vSphere simulator, sshd, etcd, ip and iptables for the
# three-center DR lab, Prometheus for the lab's monitoring); root installs them when missing.
system-deps:
	@missing=""; \
	command -v qemu-img >/dev/null || missing="$$missing qemu-utils"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi "noto sans cjk" || missing="$$missing fonts-noto-cjk"; \
	test -f /usr/include/libvirt/libvirt.h || missing="$$missing libvirt-dev"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v go >/dev/null || missing="$$missing golang-go"; \
	test -d /usr/share/gocode/src/github.com/vmware/govmomi || missing="$$missing golang-github-vmware-govmomi-dev"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server"; \
	command -v ssh >/dev/null || missing="$$missing openssh-client"; \
	test -x /usr/bin/etcd || missing="$$missing etcd-server"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v iptables >/dev/null || missing="$$missing iptables"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The lab, then one timed step per area (sync, TLS scan, audit, two drills, a plan): lab/demo.py.
demo: install system-deps
	$(BIN)/ganyun lab demo --dir $(LAB_DIR) --scale city
	@echo "console: http://127.0.0.1:8501  (accounts in $(LAB_DIR)/accounts.txt; stop: ganyun lab down --dir $(LAB_DIR))"
	GANYUN_CONFIG=$(LAB_DIR)/ganyun.yaml $(BIN)/ganyun console --port 8501

PACKAGES := providers inventory playbooks security console lab

# Import contracts (layers, the lab outside the product) are in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check $(PACKAGES)
	$(BIN)/lint-imports
	$(BIN)/vulture
	$(BIN)/deptry .

typecheck: install
	$(BIN)/mypy $(PACKAGES)

# Three workers on two cores: the slowest tests (the DR labs, migrations) mostly wait on
# timeouts and real peers, and each xdist group (one lab) stays on one worker.
unit: install system-deps
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -n 3 --dist loadgroup --no-loadscope-reorder -q --durations=25

test: lint typecheck unit

# `make bench NAMES="sync capacity"` runs a subset.
bench: install system-deps
	PATH="$(abspath $(BIN)):$$PATH" $(PY) -m tests.benchmarks.run_all $(NAMES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache tests/artifacts
