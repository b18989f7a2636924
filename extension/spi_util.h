/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  A thin layer over SPI for the C functions that query the schema.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_SPI_UTIL_H
#define NX_SPI_UTIL_H

#include "nexplane.h"
#include "executor/spi.h"

/* Up to this many parameters, all passed as text and cast in the SQL. */
#define NX_SPI_MAX_ARGS 16

extern uint64 nx_spi(const char *sql, int nargs, const char *const *args);
extern char *nx_spi_get(uint64 row, int col);
extern Jsonb *nx_spi_get_jsonb(uint64 row, int col);
extern Datum nx_spi_return(Jsonb *jb);
extern uint64 nx_spi_system(const char *sql, int nargs, const char *const *args);
extern bytea *nx_spi_get_bytea(uint64 row, int col);

#endif							/* NX_SPI_UTIL_H */
