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
#include "catalog/pg_type.h"

/* Up to this many parameters, all passed as text and cast in the SQL. */
#define NX_SPI_MAX_ARGS 16

extern uint64 nx_spi(const char *sql, int nargs, const char *const *args);

/*
 * A parameter of its own type, for nx_spi_params: a value in hand goes in
 * as it is, not as text the statement parses again ($n::uuid, $n::jsonb).
 */
typedef struct NxParam
{
	Oid			type;
	Datum		value;
	bool		isnull;
} NxParam;

static inline NxParam
nx_p_text(const char *s)
{
	NxParam		p = {TEXTOID, s ? CStringGetTextDatum(s) : (Datum) 0, s == NULL};

	return p;
}

static inline NxParam
nx_p_uuid(const pg_uuid_t *u)
{
	NxParam		p = {UUIDOID, u ? UUIDPGetDatum(u) : (Datum) 0, u == NULL};

	return p;
}

static inline NxParam
nx_p_jsonb(Jsonb *jb)
{
	NxParam		p = {JSONBOID, jb ? JsonbPGetDatum(jb) : (Datum) 0, jb == NULL};

	return p;
}

static inline NxParam
nx_p_int4(int32 i)
{
	NxParam		p = {INT4OID, Int32GetDatum(i), false};

	return p;
}

static inline NxParam
nx_p_null(Oid type)
{
	NxParam		p = {type, (Datum) 0, true};

	return p;
}

extern uint64 nx_spi_params(const char *sql, int nargs, const NxParam *params);
extern uint64 nx_spi_params_system(const char *sql, int nargs, const NxParam *params);
extern char *nx_spi_get(uint64 row, int col);
extern Jsonb *nx_spi_get_jsonb(uint64 row, int col);
extern Datum nx_spi_return(Jsonb *jb);
extern uint64 nx_spi_system(const char *sql, int nargs, const char *const *args);
extern bytea *nx_spi_get_bytea(uint64 row, int col);

#endif							/* NX_SPI_UTIL_H */
