/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Run a statement with bound text parameters and read its results.
 *
 * Parameters travel as bound values, never spliced into the SQL, so a
 * secret or hostile string can neither change the statement nor show up
 * in a log line of its text.  Values are cast to their types in the SQL
 * ($1::uuid), which keeps call sites short and readable.  Results live in
 * SPI's memory until SPI_finish: callers hand back what they return with
 * nx_spi_return().
 *
 *-------------------------------------------------------------------------
 */
#include "spi_util.h"

#include "context.h"

#include "catalog/pg_type.h"
#include "utils/memutils.h"

/*
 * Plans are prepared once per backend and kept (the plan cache replans
 * them after DDL), keyed by the statement text.  The statements are the
 * fixed literals of this extension, so the list stays short.
 */
typedef struct NxSavedPlan
{
	char	   *sql;
	int			nargs;
	Oid			types[NX_SPI_MAX_ARGS];
	SPIPlanPtr	plan;
	struct NxSavedPlan *next;
} NxSavedPlan;

static NxSavedPlan *saved_plans = NULL;

static SPIPlanPtr
nx_spi_plan(const char *sql, int nargs, const Oid *types)
{
	NxSavedPlan *p;
	SPIPlanPtr	plan;

	for (p = saved_plans; p; p = p->next)
		if (p->nargs == nargs && strcmp(p->sql, sql) == 0 &&
			memcmp(p->types, types, nargs * sizeof(Oid)) == 0)
			return p->plan;
	plan = SPI_prepare(sql, nargs, (Oid *) types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	p = MemoryContextAlloc(TopMemoryContext, sizeof(NxSavedPlan));
	p->sql = MemoryContextStrdup(TopMemoryContext, sql);
	p->nargs = nargs;
	memcpy(p->types, types, nargs * sizeof(Oid));
	p->plan = plan;
	p->next = saved_plans;
	saved_plans = p;
	return plan;
}

uint64
nx_spi(const char *sql, int nargs, const char *const *args)
{
	NxParam		params[NX_SPI_MAX_ARGS];

	Assert(nargs <= NX_SPI_MAX_ARGS);
	for (int i = 0; i < nargs; i++)
		params[i] = nx_p_text(args[i]);
	return nx_spi_params(sql, nargs, params);
}

/* nx_spi with parameters of their own types */
uint64
nx_spi_params(const char *sql, int nargs, const NxParam *params)
{
	Oid			types[NX_SPI_MAX_ARGS];
	Datum		values[NX_SPI_MAX_ARGS];
	char		nulls[NX_SPI_MAX_ARGS + 1] = {0};
	int			rc;

	if (nargs > NX_SPI_MAX_ARGS)
		elog(ERROR, "a statement of nexplane takes at most %d parameters", NX_SPI_MAX_ARGS);
	for (int i = 0; i < nargs; i++)
	{
		types[i] = params[i].type;
		values[i] = params[i].value;
		nulls[i] = params[i].isnull ? 'n' : ' ';
	}
	rc = SPI_execute_plan(nx_spi_plan(sql, nargs, types), values, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/* Column col (1-based) of row as text, or NULL */
char *
nx_spi_get(uint64 row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* The binary value of a result column; NULL (a null pointer) for SQL NULL. */
static Pointer
nx_spi_get_varlena(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? NULL : DatumGetPointer(d);
}

Jsonb *
nx_spi_get_jsonb(uint64 row, int col)
{
	Pointer		p = nx_spi_get_varlena(row, col);

	return p ? DatumGetJsonbP(PointerGetDatum(p)) : NULL;
}

/* Move a jsonb result out of SPI memory, finish SPI, and return it. */
Datum
nx_spi_return(Jsonb *jb)
{
	Datum		d = SPI_datumTransfer(JsonbPGetDatum(jb), false, -1);

	SPI_finish();
	return d;
}

/*
 * nx_spi with row-level security admitting every tenant's rows: for the
 * fixed cross-tenant statements of C code only (login, key lookup, vault).
 */
uint64
nx_spi_system(const char *sql, int nargs, const char *const *args)
{
	volatile uint64 n = 0;

	nx_system_enter();
	PG_TRY();
	{
		n = nx_spi(sql, nargs, args);
	}
	PG_FINALLY();
	{
		nx_system_leave();
	}
	PG_END_TRY();
	return n;
}

uint64
nx_spi_params_system(const char *sql, int nargs, const NxParam *params)
{
	volatile uint64 n = 0;

	nx_system_enter();
	PG_TRY();
	{
		n = nx_spi_params(sql, nargs, params);
	}
	PG_FINALLY();
	{
		nx_system_leave();
	}
	PG_END_TRY();
	return n;
}

bytea *
nx_spi_get_bytea(uint64 row, int col)
{
	Pointer		p = nx_spi_get_varlena(row, col);

	return p ? DatumGetByteaPP(PointerGetDatum(p)) : NULL;
}
