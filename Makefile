# hapair.ha — the two commands in the README are `make demo` and `make test`.
# Everything they need is installed here (Debian packages + a project venv), so a fresh
# Debian 12 machine with only PyPI and Debian's mirrors reachable runs them as they are.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# moto and the lab's controller-side AWS calls: fake credentials, never a real account.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_REGION ?= us-east-1
export PYTHONDONTWRITEBYTECODE := 1

# Debian packages of this machine: what builds and runs the lab (debootstrap builds the hosts'
# Debian images, tests/lab/image.py lists what goes into them) and the tools the tests call
# here (ruby checks rendered gitlab.rb files, git and rsync serve ansible-test, stress-ng keeps
# the cores busy in the VRRP stability benchmark and its smoke test, nftables cuts the lab's
# partitions between two hosts).
APT_PACKAGES := iproute2 util-linux debootstrap openssh-client ruby python3 curl procps e2fsprogs \
	git rsync openssl stress-ng nftables

COLLECTION_LINK := $(VENV)/collections/ansible_collections/hapair/ha
SANITY_DIR := build/sanity/ansible_collections/hapair/ha

.PHONY: setup apt venv test checks lint sanity unit ee integration molecule demo build docs clean lab-down

setup: apt venv $(COLLECTION_LINK)

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | sed "/^WARNING: Location/d"
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | sed "/^WARNING: Location/d"
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

# ---- tests ---------------------------------------------------------------------------------
# The unit tests first, on their own (some measure the lab proxy's timing). Then the static checks
# run beside the lab suites: they use one core for minutes while the suites begin by building the
# hosts' images, which mostly waits for the Debian mirror. Each target's output is printed when it
# ends (--output-sync); a failure anywhere fails `make test` once both are done.
test: setup unit
	$(MAKE) --no-print-directory -j2 --output-sync=target integration checks
	@echo "make test: all suites passed"

checks: lint sanity ee

lint: setup
	$(BIN)/ansible-lint --offline -q
	$(BIN)/antsibull-changelog lint
	# The docs use amazon.aws's doc fragments: antsibull-docs copies the dependencies it finds
	# (amazon.aws from the `ansible` package in .venv), with git when they are inside a git
	# checkout - and .venv is ignored here, so nothing would be copied: git stops above .venv.
	GIT_CEILING_DIRECTORIES=$(CURDIR)/.venv $(BIN)/antsibull-docs lint-collection-docs --plugin-docs .

# ansible-test's own pinned sanity requirements, in a venv of their own (they pin versions that
# differ from ansible-lint's). Paths inside the venv are looked up when the recipe runs: on a
# fresh machine the venv does not exist yet when make reads this file.
SANITY_VENV := $(VENV)/sanity
ANSIBLE_TEST_DIR = $$($(BIN)/python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')

$(SANITY_VENV)/.installed: $(VENV)/.installed
	test -x $(SANITY_VENV)/bin/python || $(PYTHON) -m venv $(SANITY_VENV)
	reqs=$(ANSIBLE_TEST_DIR)/_data/requirements; \
	$(SANITY_VENV)/bin/python -m pip install -q --disable-pip-version-check \
		$$(grep '^ansible-core==' requirements.txt) \
		$$(for f in $$reqs/sanity.*.txt; do echo "-r $$f"; done) 2>&1 | sed "/^WARNING: Location/d"
	touch $@

# ansible-test bootstraps pip in its per-test venvs with a get-pip.py it downloads from a host
# outside PyPI; tests/sanity/get_pip_standin.py does the same from PyPI and goes where
# ansible-test caches that script.
sanity: setup $(SANITY_VENV)/.installed
	pipver=$$(sed -n "s/^ *pip='\([0-9.]*\)',$$/\1/p" $(ANSIBLE_TEST_DIR)/_internal/python_requirements.py); \
	test -n "$$pipver" || { echo "cannot find the pip version ansible-test bootstraps"; exit 1; }; \
	mkdir -p $(HOME)/.ansible/test/cache && \
	cp tests/sanity/get_pip_standin.py $(HOME)/.ansible/test/cache/get_pip_$${pipver//./_}.py
	rm -rf build/sanity && mkdir -p $(SANITY_DIR)
	git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ $(SANITY_DIR)/
	# the modules use amazon.aws's module_utils and doc fragments: ansible-test finds collection
	# dependencies in the same collection root (here, amazon.aws as the `ansible` package ships it)
	mkdir -p build/sanity/ansible_collections/amazon
	rsync -a --exclude __pycache__ \
		"$$($(BIN)/python -c 'import ansible_collections.amazon.aws as m; print(list(m.__path__)[0])')/" \
		build/sanity/ansible_collections/amazon/aws/
	# its own git repository: inside this checkout ansible-test would see build/ as ignored
	cd $(SANITY_DIR) && git init -q && git add -A
	cd $(SANITY_DIR) && PATH=$(CURDIR)/$(SANITY_VENV)/bin:$$PATH \
		$(CURDIR)/$(SANITY_VENV)/bin/ansible-test sanity --local --python 3.11 --color no

unit: setup
	$(BIN)/pytest -q tests/unit

# The execution environment's build context (execution-environment.yml) in build/ee, checked by
# tests/ee together with what `ansible-builder introspect` reads from the collection. The image
# itself is not built here: there is no container registry to pull its base image from.
ee: build
	rm -rf build/ee
	$(BIN)/ansible-builder create --file execution-environment.yml --context build/ee \
		--output-filename Containerfile
	$(BIN)/pytest -q -p no:cacheprovider tests/ee

# The lab suites run side by side in separate lab slots (tests/run_suites.py): Debian 12 hosts for
# every area, Debian 13 hosts for the keepalived-based ones, and the Molecule scenarios as one more
# stream (slots 1 and 15, see `molecule` below). The hosts' images are built first.
integration: setup
	$(BIN)/python -m tests.run_suites

# Every role's Molecule scenario on its own, outside `make integration` (which runs them as its
# `molecule` stream): extensions/molecule/run.py runs `molecule test -s SCENARIO` in two lanes, lab
# slots 1 and 15 (HAPAIR_MOLECULE_SLOTS), each lane with a HOME of its own under
# .venv/molecule-home, so Molecule's state stays out of ~ and the lanes out of each other's way.
# One scenario by hand: HOME=$(CURDIR)/$(VENV)/molecule-home $(BIN)/molecule test -s keepalived
molecule: setup
	$(BIN)/python extensions/molecule/run.py

build: setup
	$(BIN)/ansible-galaxy collection build --force --output-path build/

# The collection's HTML documentation (modules, filters, roles and their argument specs) in
# build/docs/build/html: antsibull-docs writes a Sphinx project (it wants its directory writable by
# its owner only) and builds it, warnings as errors; docs/conf_offline.py keeps Sphinx off the
# network.
docs: setup
	rm -rf build/docs && mkdir -p build && mkdir -m 0700 build/docs
	$(BIN)/antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error \
		--project hapair.ha --copyright "hapair.ha maintainers" --title "hapair.ha" \
		--dest-dir build/docs hapair.ha
	cat docs/conf_offline.py >> build/docs/conf.py
	build/docs/build.sh
	@echo "make docs: build/docs/build/html/index.html"

demo: setup
	$(BIN)/python -m tests.demo

lab-down: setup
	$(BIN)/python -m tests.lab down --all

clean: lab-down
	rm -rf build .pytest_cache
