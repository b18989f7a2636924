/*-------------------------------------------------------------------------
 *
 * authenticate.c
 *	  authenticate(token, request_id, trace_id): set a transaction-scoped context
 *	  from a bearer token, either an RS256 access token or an API key.
 *
 * This is the API shim's first call in every request's transaction.  It
 * clears any context first, so a failed call leaves the caller with none.
 * Both paths re-read the user, tenant and session from the tables: a role
 * change, a disabled user, a logout or a revoked key take effect at once.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "json_build.h"
#include "jwt.h"
#include "sessions.h"
#include "spi_util.h"

#include "lib/stringinfo.h"
#include "utils/json.h"

#define NX_API_KEY_PREFIX "nxp_"

static void
nx_auth_failed(const char *what, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_NX_UNAUTHENTICATED),
			 errmsg("invalid %s", what),
			 why ? errdetail("%s", why) : 0,
			 errhint("Log in again or use a valid API key.")));
}

/* Request ids are echoed into logs and audit rows: keep them tame. */
static const char *
nx_request_id_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *rid;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	rid = text_to_cstring(nx_arg_text(fcinfo, argno, "request_id", 64));
	if (rid[0] == '\0' ||
		strspn(rid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
		!= strlen(rid))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("request_id may hold only letters, digits, '.', '_', ':' and '-'")));
	return rid;
}

/* A W3C trace-id: 32 lower-case hex digits, not all zero. */
static const char *
nx_trace_id_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *tid;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	tid = text_to_cstring(nx_arg_text(fcinfo, argno, "trace_id", 32));
	if (strlen(tid) != 32 || strspn(tid, "0123456789abcdef") != 32 ||
		strspn(tid, "0") == 32)
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("trace_id must be 32 lower-case hex digits, not all zero"),
				 errhint("Pass the trace-id part of a W3C traceparent header.")));
	return tid;
}

static void
nx_authenticate_api_key(const char *key, NxContext *ctx)
{
	const char *args[] = {key};
	uint64		n;

	n = nx_spi_system("SELECT k.tenant_id, k.user_id, k.id,"
						"       CASE WHEN 'write' = ANY (k.scopes) THEN u.role"
						"            ELSE 'viewer' END,"
						"       k.revoked_at IS NULL"
						"       AND (k.expires_at IS NULL OR k.expires_at > now()),"
						"       u.status = 'active' AND t.status = 'active'"
						"  FROM nexplane.api_keys k"
						"  JOIN nexplane.users u"
						"    ON u.tenant_id = k.tenant_id AND u.id = k.user_id"
						"  JOIN nexplane.tenants t ON t.id = k.tenant_id"
						" WHERE k.key_hash = sha256(convert_to($1, 'UTF8'))",
						1, args);
	if (n != 1)
		nx_auth_failed("API key", "The key is not known.");
	if (strcmp(nx_spi_get(0, 5), "t") != 0)
		nx_auth_failed("API key", "The key has been revoked or has expired.");
	if (strcmp(nx_spi_get(0, 6), "t") != 0)
		nx_auth_failed("API key", "Its user or tenant is disabled.");

	nx_uuid_parse(nx_spi_get(0, 1), &ctx->tenant_id);
	nx_uuid_parse(nx_spi_get(0, 2), &ctx->user_id);
	nx_uuid_parse(nx_spi_get(0, 3), &ctx->session_id);
	strlcpy(ctx->role, nx_spi_get(0, 4), sizeof(ctx->role));
	strlcpy(ctx->auth_kind, "api_key", sizeof(ctx->auth_kind));
}

static void
nx_authenticate_jwt(const char *token, NxContext *ctx)
{
	const char *why;
	Jsonb	   *claims = nx_jwt_verify(token, &why);
	char	   *sub;
	char	   *tid;
	char	   *sid;

	if (claims == NULL)
		nx_auth_failed("access token", why);
	sub = nx_jsonb_get_cstring(claims, "sub");
	tid = nx_jsonb_get_cstring(claims, "tid");
	sid = nx_jsonb_get_cstring(claims, "sid");
	if (!nx_uuid_parse(sub, &ctx->user_id) || !nx_uuid_parse(tid, &ctx->tenant_id) ||
		!nx_uuid_parse(sid, &ctx->session_id))
		nx_auth_failed("access token", "The token lacks its subject, tenant or session.");
	switch (nx_session_state(&ctx->tenant_id, &ctx->session_id, &ctx->user_id, 0, ctx->role))
	{
		case NX_SESSION_LIVE:
			break;
		case NX_SESSION_ENDED:
		case NX_SESSION_TOO_OLD:	/* not asked for */
			nx_auth_failed("access token", "The session has ended or been revoked.");
			break;
		case NX_SESSION_DISABLED:
			nx_auth_failed("access token", "Its user or tenant is disabled.");
			break;
	}
	strlcpy(ctx->auth_kind, "jwt", sizeof(ctx->auth_kind));
}

NX_TAKES_SECRET(nx_authenticate)
{
	char	   *token = text_to_cstring(nx_arg_text(fcinfo, 0, "token", 8192));
	const char *request_id = nx_request_id_arg(fcinfo, 1);
	const char *trace_id = nx_trace_id_arg(fcinfo, 2);
	NxContext	ctx = {0};
	JsonbParseState *ps = NULL;

	nx_context_clear();
	SPI_connect();
	if (strncmp(token, NX_API_KEY_PREFIX, strlen(NX_API_KEY_PREFIX)) == 0)
		nx_authenticate_api_key(token, &ctx);
	else
		nx_authenticate_jwt(token, &ctx);
	explicit_bzero(token, strlen(token));

	ctx.scope = NX_SCOPE_XACT;
	ctx.home_tenant_id = ctx.tenant_id;
	nx_context_set(&ctx);
	nx_context_set_request_id(request_id);
	nx_context_set_trace_id(trace_id);
	if (strcmp(ctx.auth_kind, "api_key") == 0)
	{
		/* at most one write a minute per key, not one per request */
		const char *args[] = {nx_uuid_out(&ctx.session_id)};

		nx_spi("UPDATE nexplane.api_keys SET last_used_at = now()"
			   " WHERE tenant_id = nexplane.current_tenant_id() AND id = $1::uuid"
			   "   AND (last_used_at IS NULL"
			   "        OR last_used_at < now() - interval '1 minute')", 1, args);
	}
	SPI_finish();

	/* built as jsonb, not printed as JSON text for jsonb_in to parse again */
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	nx_jb_key(&ps, "tenant_id");
	nx_jb_cstring(&ps, WJB_VALUE, nx_uuid_out(&ctx.tenant_id));
	nx_jb_key(&ps, "user_id");
	nx_jb_cstring(&ps, WJB_VALUE, nx_uuid_out(&ctx.user_id));
	nx_jb_key(&ps, "role");
	nx_jb_cstring(&ps, WJB_VALUE, ctx.role);
	nx_jb_key(&ps, "auth");
	nx_jb_cstring(&ps, WJB_VALUE, ctx.auth_kind);
	PG_RETURN_JSONB_P(nx_jb_finish(&ps, WJB_END_OBJECT));
}
