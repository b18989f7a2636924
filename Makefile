# Nexplane: PGXS build of nexplane.so, plus the api/ and agent/ binaries.
#   make             build the extension, the shim and the host agent
#   make install     install the extension
#   make run         a local cluster with everything started   make stop
#   make test        install what is missing, build, run every suite
#   make installcheck  the SQL suites against a running server (PGHOST, PGPORT)
#   make deps        apt-get what is missing          make bench  benchmarks

# Debian's PostgreSQL 15; another pg_config may be named on the command line.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)

MODULE_big = nexplane
# One concept per file: every C file of these directories is part of it.
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c connectors/*.c bgworkers/*.c)))

EXT_VERSION = 0.1
# The install script is assembled in a fixed order of kinds: roles, the
# context functions the policies call, tables with their policies
# (schema/), functions and the triggers that call them (api/), then
# ownership and grants.  Within a kind, files go in name order.
EXT_SQL_PARTS = extension/sql/roles.sql extension/sql/context.sql \
	$(sort $(wildcard extension/sql/schema/*.sql)) \
	$(sort $(wildcard extension/sql/api/*.sql)) \
	extension/sql/privileges.sql
EXT_SQL = extension/nexplane--$(EXT_VERSION).sql

MODULEDIR = extension
DATA_built = $(EXT_SQL)
DATA = extension/nexplane.control

PG_CPPFLAGS = -I$(srcdir)/extension -I$(srcdir)/connectors -I$(srcdir)/bgworkers \
	-I$(libpq_srcdir) $(shell pkg-config --cflags libmariadb) \
	-std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wsign-compare -Wmissing-field-initializers
SHLIB_LINK = -lssl -lcrypto -lcrypt -lpq -lmariadb -lhiredis -lldap -llber

# Tests, declared by concept.  pg_regress suites are sql/NAME.sql with
# expected/NAME.out; setup (the shared fixtures) runs first, the rest in
# name order, each depending only on setup.  Isolation specs live in
# test/isolation/specs, TAP tests (restarts, crashes) in test/t.
REGRESS = setup $(filter-out setup,$(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql))))
ISOLATION = $(sort $(patsubst test/isolation/specs/%.spec,%,$(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))
# make installcheck uses the running server; make test (test/run_tests.sh)
# passes TEMP_INSTANCE and TEMP_CONFIG so each kind gets a fresh instance.
ifdef TEMP_INSTANCE
REGRESS_OPTS += --temp-instance=$(TEMP_INSTANCE) --temp-config=$(TEMP_CONFIG)
ISOLATION_OPTS += --temp-instance=$(TEMP_INSTANCE) --temp-config=$(TEMP_CONFIG)
endif

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
# No LLVM bitcode: JIT inlining of these functions gains nothing.
override with_llvm = no
# Rebuild what includes a changed header (PGXS's -MMD dependency files).
override autodepend = yes
include $(PGXS)
# after PGXS, which sets its own defaults
PROVE_FLAGS = -I test/perl --verbose
CONTRIB_TESTDB = nexplane_regress
ISOLATION_TESTDB = nexplane_isolation
else
# A fresh machine: only deps, run and test (which install first) can work.
all install installcheck:
	@echo "PostgreSQL 15 server headers are missing: run 'make deps' (make run and make test do)." >&2
	@exit 1
endif

# The kinds one at a time, so that the test runner counts each.
.PHONY: installcheck-regress installcheck-isolation installcheck-tap
installcheck-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)
installcheck-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)
installcheck-tap:
	$(prove_installcheck)

# The API shim (api/Makefile).
all: api-binaries
.PHONY: api-binaries
api-binaries:
	$(MAKE) -C api PG_CONFIG=$(PG_CONFIG) all
# The host agent (agent/Makefile).
all: agent-binaries
.PHONY: agent-binaries agent-clean
agent-binaries:
	$(MAKE) -C agent all
clean: agent-clean
agent-clean:
	$(MAKE) -C agent clean

clean: api-clean
.PHONY: api-clean
api-clean:
	$(MAKE) -C api clean
	$(MAKE) -C test/modules/nexplane_test PG_CONFIG=$(PG_CONFIG) clean

$(EXT_SQL): $(EXT_SQL_PARTS) Makefile
	cat $(EXT_SQL_PARTS) > $@

.PHONY: deps run stop test test-install
deps:
	@bash scripts/deps.sh

# run and test re-enter make so that pg_config is looked up after deps.
run: deps
	$(MAKE) all install
	@bash scripts/run_local.sh start

stop:
	@bash scripts/run_local.sh stop

# What only the tests use: the test-only extension (the SQL suites need
# it, so installcheck installs it first), the sanitizer build of the shim
# and its fuzz target.
.PHONY: test-extension
test-extension:
	$(MAKE) -C test/modules/nexplane_test PG_CONFIG=$(PG_CONFIG) all install
installcheck: test-extension-if-missing
.PHONY: test-extension-if-missing
test-extension-if-missing:
	@test -f "$$($(PG_CONFIG) --sharedir)/extension/nexplane_test.control" || $(MAKE) test-extension
test-install: test-extension
	$(MAKE) -C api PG_CONFIG=$(PG_CONFIG) asan fuzz_route
	$(MAKE) -C agent asan fuzz

test: deps
	$(MAKE) all install test-install
	@bash test/run_tests.sh

# Benchmarks print their figures and their baselines'; they are not tests.
.PHONY: bench
bench: deps
	$(MAKE) all install test-extension
	@for b in bench/*/run.sh; do echo "== $$b"; bash $$b || exit 1; done
