/*-------------------------------------------------------------------------
 *
 * row_lookup.h
 *	  One row of a nexplane table by its primary key, without SPI.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_ROW_LOOKUP_H
#define NX_ROW_LOOKUP_H

#include "nexplane.h"

#define NX_ROW_MAX_KEYS 2

extern bool nx_row_by_pk(const char *relname, int nkeys, const pg_uuid_t *keys,
						 int ncols, const char *const *cols, Datum *values, bool *isnull);

#endif							/* NX_ROW_LOOKUP_H */
