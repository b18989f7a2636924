# Nexplane: PGXS build of nexplane.so, plus the api/ and agent/ binaries.
#   make          build (extension and api/)   make install   install the extension
#   make run      local cluster  make stop      stop it
#   make test     every suite    make deps      apt-get what is missing

# Debian's PostgreSQL 15; another pg_config may be named on the command line.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)

MODULE_big = nexplane
OBJS = \
	extension/nexplane.o \
	extension/context.o \
	extension/util.o \
	extension/spi_util.o \
	extension/password.o \
	extension/login_throttle.o \
	extension/jwt.o \
	extension/auth.o \
	extension/authenticate.o \
	extension/tenants.o \
	extension/audit.o \
	extension/master_key.o \
	extension/vault.o \
	extension/vault_rotation.o \
	extension/vault_check.o \
	extension/credentials.o \
	extension/audit_trigger.o \
	extension/change_types.o \
	extension/risk.o \
	extension/state_machine.o \
	extension/change_requests.o \
	extension/stream_events.o \
	extension/session_revoke.o \
	bgworkers/audit_space.o

EXT_VERSION = 0.1
# The install script is assembled from one file per concept, in order.
EXT_SQL_PARTS = $(sort $(wildcard extension/sql/*.sql))
EXT_SQL = extension/nexplane--$(EXT_VERSION).sql

MODULEDIR = extension
DATA_built = $(EXT_SQL)
DATA = extension/nexplane.control

PG_CPPFLAGS = -I$(srcdir)/extension -I$(srcdir)/bgworkers -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = -lssl -lcrypto -lcrypt

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
# No LLVM bitcode: JIT inlining of these functions gains nothing.
override with_llvm = no
include $(PGXS)
else
# A fresh machine: only deps, run and test (which install first) can work.
all install:
	@echo "PostgreSQL 15 server headers are missing: run 'make deps' (make run and make test do)." >&2
	@exit 1
endif

# The API shim: nexplane-api and its sanitizer build (api/Makefile).
all: api-binaries
.PHONY: api-binaries
api-binaries:
	$(MAKE) -C api PG_CONFIG=$(PG_CONFIG) all
clean: api-clean
.PHONY: api-clean
api-clean:
	$(MAKE) -C api clean

$(EXT_SQL): $(EXT_SQL_PARTS)
	cat $^ > $@

.PHONY: deps run stop test
deps:
	@bash scripts/deps.sh

# run and test re-enter make so that pg_config is looked up after deps.
run: deps
	$(MAKE) all install
	@bash scripts/run_local.sh start

stop:
	@bash scripts/run_local.sh stop

test: deps
	$(MAKE) all install
	@bash test/run_tests.sh

# Benchmarks print their figures and their baselines'; they are not tests.
.PHONY: bench
bench: deps
	$(MAKE) all install
	@for b in bench/*/run.sh; do echo "== $$b"; bash $$b || exit 1; done
