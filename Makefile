# bluegreen: blue/green deployment of dbt projects inside PostgreSQL.
#
#   make                 build the extension
#   make install         install it into the server of $(PG_CONFIG)
#   make installcheck    run the pg_regress suite against a running server
#
# The whole suite, with a throwaway cluster and the dbt oracle, is test/run.

EXTENSION    = bluegreen
EXTVERSION   = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big   = bluegreen
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from one file per concern, in name order.
SQL_PARTS    = $(sort $(wildcard src/sql/*.sql))
DATA_built   = $(EXTENSION)--$(EXTVERSION).sql
# upgrade/: the frozen install scripts of earlier releases and the scripts from each
# release to the next (README "Releases").
DATA         = $(wildcard upgrade/$(EXTENSION)--*.sql)

REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=.

PG_CONFIG   ?= pg_config
PG_CPPFLAGS  = -I$(srcdir)/src $(shell pkg-config --cflags json-c libcrypto) -Wall -Wextra -Werror \
               -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK   = $(shell pkg-config --libs json-c libcrypto)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) $(EXTENSION).control
	cat $(SQL_PARTS) > $@

$(OBJS): $(wildcard src/*.h)
