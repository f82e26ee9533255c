/*
 * bluegreen.c
 *		Module entry: the library's magic block and its settings.
 *
 * bluegreen deploys dbt projects blue/green inside PostgreSQL. The parts live in files
 * of their own: manifest intake (manifest.c, manifest_store.c), selection
 * (selection.c), projects and plans (project.c), privilege switching (privilege.c) and
 * SPI helpers (spi_util.c).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	MarkGUCPrefixReserved("bluegreen");
}
