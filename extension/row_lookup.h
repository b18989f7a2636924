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

#include "access/stratnum.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"

#define NX_ROW_MAX_KEYS 2

extern bool nx_row_by_pk(const char *relname, int nkeys, const pg_uuid_t *keys,
						 int ncols, const char *const *cols, Datum *values, bool *isnull);
extern bool nx_row_lock_by_pk(const char *relname, int nkeys, const pg_uuid_t *keys,
							  int ncols, const char *const *cols, Datum *values, bool *isnull);

/* A key of nx_index_rows: on index column i + 1 for keys[i] */
typedef struct NxKey
{
	StrategyNumber strategy;
	RegProcedure proc;
	Datum		value;
} NxKey;

/* Called for each row found, until it answers false. */
typedef bool (*NxRowFn) (Relation rel, TupleTableSlot *slot, void *arg);

extern void nx_index_rows(const char *relname, const char *indexname, int nkeys,
						  const NxKey *keys, bool statement_snapshot, NxRowFn fn, void *arg);

#endif							/* NX_ROW_LOOKUP_H */
