/*-------------------------------------------------------------------------
 *
 * cr_read.c
 *	  cr_get(id): one change request's document, read by primary key.
 *
 * The hottest read of the API.  Its one statement is planned once per
 * backend (spi_util.c keeps the plan) and reads the document from the
 * change_request_documents view, the same definition cr_list and the
 * transitions' answers use, so the shapes cannot drift.  The caller's
 * tenant comes from the context; forced RLS binds the read to it as well.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "spi_util.h"

#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(nx_cr_get);
Datum
nx_cr_get(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_require_role(NX_ANY_ROLE);
	const char *args[2];
	Jsonb	   *doc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("id is required")));
	args[0] = nx_uuid_out(&ctx->tenant_id);
	args[1] = nx_uuid_out(PG_GETARG_UUID_P(0));

	SPI_connect();
	if (nx_spi("SELECT d.doc FROM nexplane.change_request_documents d"
			   " WHERE d.tenant_id = $1::uuid AND d.id = $2::uuid", 2, args) != 1 ||
		(doc = nx_spi_get_jsonb(0, 1)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_NOT_FOUND),
				 errmsg("change request %s not found", args[1])));
	PG_RETURN_DATUM(nx_spi_return(doc));
}
