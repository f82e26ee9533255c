/*
 * spi.h
 *		Running SQL through SPI, and work in subtransactions (spi.c).
 */
#ifndef BLUEGREEN_SPI_H
#define BLUEGREEN_SPI_H

#include "postgres.h"

#include "executor/spi.h"
#include "nodes/pg_list.h"

extern void bg_spi_exec(const char *sql, int expected, int nargs, Oid *argtypes,
						Datum *values, const char *nulls);
extern ErrorData *bg_in_subxact(void (*fn) (void *arg), void *arg);
extern ErrorData *bg_spi_exec_subxact(const char *sql);
extern Datum bg_text_array(char **items, int n);
extern Datum bg_oid_array(List *oids);
extern List *bg_spi_oids(void);
extern int64 bg_spi_rows(const char *sql, int expected);
extern int64 bg_spi_int8(const char *sql);

#endif							/* BLUEGREEN_SPI_H */
