/*-------------------------------------------------------------------------
 *
 * sessions.c
 *	  login, refresh, logout and me: password sessions and their tokens.
 *
 * A login creates a row in sessions and returns an RS256 access token
 * (whose sid claim names the session) and a refresh token stored only as
 * its SHA-256.  Refresh tokens rotate: each is good once, and a used one
 * is refused.  Logging out revokes the session, which authenticate()
 * checks on every call, so a revoked access token stops working at once.
 *
 * Unknown emails and wrong passwords take the same path, the same bcrypt
 * work and the same error.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "sessions.h"
#include "context.h"
#include "jwt.h"
#include "login_throttle.h"
#include "password.h"
#include "row_lookup.h"
#include "session_revoke.h"
#include "spi_util.h"

#include "lib/stringinfo.h"
#include "utils/acl.h"
#include "utils/json.h"

#define NX_LOGIN_MAX_CANDIDATES 5

static void
nx_login_failed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NX_UNAUTHENTICATED),
			 errmsg("invalid email or password"),
			 errhint("Check both and try again; repeated failures lock the account for a while.")));
}

/*
 * Mint a refresh token and an access token for the session in ctx, and
 * build the login/refresh answer.  Runs inside SPI with ctx already set.
 */
Jsonb *
nx_issue_tokens(const NxContext *ctx, const char *email, const char *slug)
{
	char	   *tenant_id = nx_uuid_out(&ctx->tenant_id);
	char	   *user_id = nx_uuid_out(&ctx->user_id);
	char	   *session_id = nx_uuid_out(&ctx->session_id);
	char	   *refresh = nx_random_token("nxr_");
	char		ttl[32];
	int64		now = (int64) time(NULL);
	StringInfoData claims;
	StringInfoData out;
	char	   *access;

	snprintf(ttl, sizeof(ttl), "%d", nx_refresh_token_ttl);
	{
		const char *args[] = {tenant_id, session_id, refresh, ttl};

		nx_spi("INSERT INTO nexplane.refresh_tokens"
			   " (tenant_id, session_id, token_hash, expires_at)"
			   " VALUES ($1::uuid, $2::uuid, sha256(convert_to($3, 'UTF8')),"
			   "         now() + make_interval(secs => $4::int))",
			   4, args);
	}

	initStringInfo(&claims);
	appendStringInfoString(&claims, "{\"iss\":");
	escape_json(&claims, nx_jwt_issuer);
	appendStringInfoString(&claims, ",\"aud\":");
	escape_json(&claims, nx_jwt_audience);
	appendStringInfo(&claims,
					 ",\"sub\":\"%s\",\"tid\":\"%s\",\"sid\":\"%s\",\"role\":\"%s\","
					 "\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT ",\"jti\":\"%s\"}",
					 user_id, tenant_id, session_id, ctx->role,
					 now, now + nx_access_token_ttl, nx_random_token(""));
	access = nx_jwt_sign(claims.data);

	initStringInfo(&out);
	appendStringInfo(&out,
					 "{\"access_token\":\"%s\",\"token_type\":\"Bearer\","
					 "\"expires_in\":%d,\"refresh_token\":\"%s\","
					 "\"refresh_expires_in\":%d,\"session_id\":\"%s\","
					 "\"user\":{\"id\":\"%s\",\"email\":",
					 access, nx_access_token_ttl, refresh, nx_refresh_token_ttl,
					 session_id, user_id);
	escape_json(&out, email);
	appendStringInfo(&out, ",\"role\":\"%s\"},\"tenant\":{\"id\":\"%s\",\"slug\":",
					 ctx->role, tenant_id);
	escape_json(&out, slug);
	appendStringInfoString(&out, "}}");
	explicit_bzero(refresh, strlen(refresh));
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/*
 * login(email, password, tenant DEFAULT NULL, session_scope DEFAULT true,
 *		 client_addr DEFAULT NULL)
 *
 * Emails are unique within a tenant.  Without a tenant slug every account
 * with that email is tried (at most five); the one whose password matches
 * wins.  The context is session-scoped for psql users; the API shim passes
 * session_scope => false so a pooled connection never keeps it, and the
 * client's address as client_addr, which keys the lock-out with the email
 * (login_throttle.c); other callers are keyed by their connection's peer.
 */
NX_TAKES_SECRET(nx_login)
{
	char	   *email = text_to_cstring(nx_arg_text(fcinfo, 0, "email", 320));
	char	   *password = text_to_cstring(nx_arg_text(fcinfo, 1, "password", 1024));
	char	   *tenant = PG_ARGISNULL(2) ? NULL :
	text_to_cstring(nx_arg_text(fcinfo, 2, "tenant", 63));
	bool		session_scope = PG_ARGISNULL(3) ? true : PG_GETARG_BOOL(3);
	char	   *source = nx_throttle_source(fcinfo, 4);
	bool		locked = nx_throttle_is_locked(email, source);
	uint64		n;
	int			match = -1;
	int			matches = 0;
	NxContext	ctx = {0};
	Jsonb	   *result;

	SPI_connect();
	{
		const char *args[] = {email, tenant};

		n = nx_spi_system("SELECT u.tenant_id, u.id, u.password_hash, u.role,"
						  "       u.status = 'active' AND t.status = 'active',"
						  "       t.slug, u.email"
						  "  FROM nexplane.users u"
						  "  JOIN nexplane.tenants t ON t.id = u.tenant_id"
						  " WHERE lower(u.email) = lower($1)"
						  "   AND ($2::text IS NULL OR t.slug = $2)"
						  " ORDER BY u.tenant_id LIMIT 5", 2, args);
	}

	if (n == 0)
		(void) nx_password_verify(password, NULL);
	for (uint64 i = 0; i < n; i++)
		if (nx_password_verify(password, nx_spi_get(i, 3)))
		{
			matches++;
			match = (int) i;
		}
	explicit_bzero(password, strlen(password));

	if (locked)
		nx_login_failed();
	if (matches == 0)
	{
		nx_throttle_failure(email, source);
		nx_login_failed();
	}
	if (matches > 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("this account exists in several tenants"),
				 errhint("Pass the tenant slug as the third argument of login().")));
	if (strcmp(nx_spi_get(match, 5), "t") != 0)
		nx_login_failed();
	nx_throttle_success(email, source);

	ctx.scope = session_scope ? NX_SCOPE_SESSION : NX_SCOPE_XACT;
	nx_uuid_parse(nx_spi_get(match, 1), &ctx.tenant_id);
	nx_uuid_parse(nx_spi_get(match, 2), &ctx.user_id);
	ctx.home_tenant_id = ctx.tenant_id;
	strlcpy(ctx.role, nx_spi_get(match, 4), sizeof(ctx.role));
	strlcpy(ctx.auth_kind, "password", sizeof(ctx.auth_kind));
	email = nx_spi_get(match, 7);
	tenant = nx_spi_get(match, 6);
	nx_context_set(&ctx);

	{
		char		ttl[32];
		const char *args[] = {nx_uuid_out(&ctx.user_id), ttl};

		snprintf(ttl, sizeof(ttl), "%d", nx_refresh_token_ttl);
		nx_spi("UPDATE nexplane.users SET last_login_at = now()"
			   " WHERE tenant_id = nexplane.current_tenant_id() AND id = $1::uuid",
			   1, args);
		nx_spi("INSERT INTO nexplane.sessions (tenant_id, user_id, expires_at)"
			   " VALUES (nexplane.current_tenant_id(), $1::uuid,"
			   "         now() + make_interval(secs => $2::int))"
			   " RETURNING id", 2, args);
		nx_uuid_parse(nx_spi_get(0, 1), &ctx.session_id);
		nx_context_set(&ctx);
	}
	result = nx_issue_tokens(&ctx, email, tenant);
	PG_RETURN_DATUM(nx_spi_return(result));
}

/*
 * refresh(refresh_token): trade a refresh token for a new pair.  The row is
 * locked, so two concurrent refreshes with one token cannot both succeed.
 * A token presented again after its use was copied: it is refused like any
 * bad token, and its session is ended (session_revoke.c).
 */
NX_TAKES_SECRET(nx_refresh)
{
	char	   *token = text_to_cstring(nx_arg_text(fcinfo, 0, "refresh_token", 256));
	NxContext	ctx = {0};
	uint64		n;
	Jsonb	   *result;

	nx_context_clear();
	SPI_connect();
	{
		const char *args[] = {token};

		n = nx_spi_system("SELECT r.tenant_id, r.id, r.session_id, s.user_id, u.role,"
						  "       r.used_at IS NULL AND r.expires_at > now()"
						  "       AND s.revoked_at IS NULL AND s.expires_at > now()"
						  "       AND u.status = 'active' AND t.status = 'active',"
						  "       u.email, t.slug,"
						  "       r.used_at IS NOT NULL AND s.revoked_at IS NULL"
						  "  FROM nexplane.refresh_tokens r"
						  "  JOIN nexplane.sessions s"
						  "    ON s.tenant_id = r.tenant_id AND s.id = r.session_id"
						  "  JOIN nexplane.users u"
						  "    ON u.tenant_id = s.tenant_id AND u.id = s.user_id"
						  "  JOIN nexplane.tenants t ON t.id = r.tenant_id"
						  " WHERE r.token_hash = sha256(convert_to($1, 'UTF8'))"
						  "   FOR UPDATE OF r", 1, args);
	}
	explicit_bzero(token, strlen(token));

	if (n == 1 && strcmp(nx_spi_get(0, 9), "t") == 0)
	{
		/* used before: it was copied, so the live session it belongs to ends */
		pg_uuid_t	tenant_id;
		pg_uuid_t	session_id;

		nx_uuid_parse(nx_spi_get(0, 1), &tenant_id);
		nx_uuid_parse(nx_spi_get(0, 3), &session_id);
		nx_revoke_session_async(&tenant_id, &session_id);
	}
	if (n != 1 || strcmp(nx_spi_get(0, 6), "t") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_NX_UNAUTHENTICATED),
				 errmsg("invalid refresh token"),
				 errdetail("The token is unknown, expired, already used, or its session has ended."),
				 errhint("Log in again.")));

	ctx.scope = NX_SCOPE_XACT;
	nx_uuid_parse(nx_spi_get(0, 1), &ctx.tenant_id);
	ctx.home_tenant_id = ctx.tenant_id;
	nx_uuid_parse(nx_spi_get(0, 3), &ctx.session_id);
	nx_uuid_parse(nx_spi_get(0, 4), &ctx.user_id);
	strlcpy(ctx.role, nx_spi_get(0, 5), sizeof(ctx.role));
	strlcpy(ctx.auth_kind, "refresh", sizeof(ctx.auth_kind));
	nx_context_set(&ctx);
	{
		const char *args[] = {nx_spi_get(0, 2)};
		char	   *email = nx_spi_get(0, 7);
		char	   *slug = nx_spi_get(0, 8);

		nx_spi("UPDATE nexplane.refresh_tokens SET used_at = now()"
			   " WHERE tenant_id = nexplane.current_tenant_id() AND id = $1::uuid",
			   1, args);
		result = nx_issue_tokens(&ctx, email, slug);
	}
	PG_RETURN_DATUM(nx_spi_return(result));
}

/*
 * End a login session and its refresh tokens (logout, a reused refresh
 * token).  Inside SPI; true when the session was still live.  In system
 * mode: the session lives in the user's home tenant, which is not the
 * current one while a superadmin acts in another.
 */
bool
nx_session_end(const char *tenant_id, const char *session_id)
{
	const char *args[] = {tenant_id, session_id};

	if (nx_spi_system("UPDATE nexplane.sessions SET revoked_at = now()"
					  " WHERE tenant_id = $1::uuid AND id = $2::uuid AND revoked_at IS NULL",
					  2, args) == 0)
		return false;
	nx_spi_system("UPDATE nexplane.refresh_tokens SET used_at = coalesce(used_at, now())"
				  " WHERE tenant_id = $1::uuid AND session_id = $2::uuid", 2, args);
	return true;
}

/* logout(): end the caller's login session and clear the context */
PG_FUNCTION_INFO_V1(nx_logout);
Datum
nx_logout(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_require_role(NX_ANY_ROLE);
	bool		had_session = strcmp(ctx->auth_kind, "api_key") != 0;

	if (had_session)
	{
		SPI_connect();
		(void) nx_session_end(nx_uuid_out(&ctx->home_tenant_id),
							  nx_uuid_out(&ctx->session_id));
		SPI_finish();
	}
	nx_context_clear();
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(had_session ?
														"{\"logged_out\": true, \"session_revoked\": true}" :
														"{\"logged_out\": true, \"session_revoked\": false}")));
}

/* me(): who the context says the caller is */
PG_FUNCTION_INFO_V1(nx_me);
Datum
nx_me(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_require_role(NX_ANY_ROLE);
	const char *args[] = {ctx->auth_kind, nx_uuid_out(&ctx->home_tenant_id)};
	uint64		n;

	SPI_connect();
	n = nx_spi("SELECT jsonb_build_object("
			   "  'user', jsonb_build_object('id', u.id, 'email', u.email,"
			   "          'display_name', u.display_name, 'role', nexplane.current_role()),"
			   "  'tenant', jsonb_build_object('id', t.id, 'slug', t.slug, 'name', t.name),"
			   "  'auth', $1,"
			   "  'acting_as_tenant', t.id <> $2::uuid,"
			   "  'request_id', nexplane.current_request_id())"
			   "  FROM nexplane.tenants t"
			   "  LEFT JOIN nexplane.users u"
			   "    ON u.tenant_id = t.id AND u.id = nexplane.current_user_id()"
			   " WHERE t.id = nexplane.current_tenant_id()", 2, args);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_NOT_FOUND),
				 errmsg("the current tenant no longer exists")));
	PG_RETURN_DATUM(nx_spi_return(nx_spi_get_jsonb(0, 1)));
}

/*
 * nx_session_state: is login session sid of user uid in tenant tid live,
 * and are its user and tenant active?  Also older than max_age seconds,
 * when max_age > 0.  Writes the user's role as it is now into role (of
 * NX_ROLE_MAX bytes).  The one check of a session, for authenticate() on
 * every request and for psql sessions once per transaction: three reads
 * by primary key (row_lookup.c), as of a snapshot taken now.  The ids come
 * parsed (from a verified token's claims, or a psql session's context).
 */
NxSessionState
nx_session_state(const pg_uuid_t *tid, const pg_uuid_t *sid, const pg_uuid_t *uid,
				 int max_age, char *role)
{
	static const char *const session_cols[] = {"user_id", "created_at", "expires_at", "revoked_at"};
	static const char *const user_cols[] = {"role", "status"};
	static const char *const tenant_cols[] = {"status"};
	pg_uuid_t	keys[2] = {*tid, *sid};
	Datum		v[4];
	bool		null[4];
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	char	   *user_role;
	bool		active;

	if (!nx_row_by_pk("sessions", 2, keys, 4, session_cols, v, null) ||
		memcmp(DatumGetUUIDP(v[0]), uid, sizeof(pg_uuid_t)) != 0)
		return NX_SESSION_ENDED;
	if (!null[3] || DatumGetTimestampTz(v[2]) <= now)
		return NX_SESSION_ENDED;
	if (max_age > 0 &&
		DatumGetTimestampTz(v[1]) <= now - (TimestampTz) max_age * USECS_PER_SEC)
		return NX_SESSION_TOO_OLD;

	keys[1] = *uid;
	if (!nx_row_by_pk("users", 2, keys, 2, user_cols, v, null))
		return NX_SESSION_ENDED;
	user_role = TextDatumGetCString(v[0]);
	active = strcmp(TextDatumGetCString(v[1]), "active") == 0;
	if (!nx_row_by_pk("tenants", 1, keys, 1, tenant_cols, v, null))
		return NX_SESSION_ENDED;
	if (!active || strcmp(TextDatumGetCString(v[0]), "active") != 0)
		return NX_SESSION_DISABLED;
	strlcpy(role, user_role, NX_ROLE_MAX);
	return NX_SESSION_LIVE;
}

/*
 * nx_session_recheck: is a psql session's context still good?  NULL when
 * it is (its role refreshed from the users table), else why not, as a
 * sentence.  Called once per transaction by context.c.
 */
const char *
nx_session_recheck(NxContext *ctx)
{
	bool		elsewhere = memcmp(&ctx->tenant_id, &ctx->home_tenant_id, sizeof(pg_uuid_t)) != 0;
	char		role[NX_ROLE_MAX];
	volatile NxSessionState state = NX_SESSION_ENDED;
	Oid			save_uid;
	int			save_sec;

	/*
	 * As the extension owner, since the caller's role may read no table.
	 * SPI's memory goes at SPI_finish: only the state and the role leave.
	 */
	GetUserIdAndSecContext(&save_uid, &save_sec);
	SetUserIdAndSecContext(get_role_oid("nexplane_owner", false),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		SPI_connect();
		state = nx_session_state(&ctx->home_tenant_id, &ctx->session_id,
								 &ctx->user_id, nx_session_max_age, role);
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_uid, save_sec);
	}
	PG_END_TRY();

	switch (state)
	{
		case NX_SESSION_LIVE:
			break;
		case NX_SESSION_ENDED:
			return "It was logged out or revoked.";
		case NX_SESSION_TOO_OLD:
			return psprintf("It is older than %d seconds (nexplane.session_max_age).",
							nx_session_max_age);
		case NX_SESSION_DISABLED:
			return "Its user or tenant has been disabled.";
	}
	if (elsewhere && !nx_role_is_superadmin(role))
		return "Its user is no longer a superadmin, who alone may act in another tenant.";
	if (!elsewhere)
		strlcpy(ctx->role, role, sizeof(ctx->role));
	return NULL;
}
