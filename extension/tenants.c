/*-------------------------------------------------------------------------
 *
 * tenants.c
 *	  Platform-level operations that cross tenants: creating a tenant with
 *	  its first admin, a superadmin acting inside a named tenant, and the
 *	  PostgreSQL superuser granting the superadmin role.
 *
 * These are the only SQL-reachable paths that write outside the caller's
 * tenant, so each checks its caller first and writes an audit event.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "audit.h"
#include "password.h"
#include "spi_util.h"

static void
nx_require_platform_admin(void)
{
	const NxContext *ctx = nx_context_get();

	if (nx_caller_is_superuser())
		return;
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_UNAUTHENTICATED),
				 errmsg("not authenticated"),
				 errhint("Call nexplane.login() or nexplane.authenticate() first.")));
	if (!nx_role_is_superadmin(ctx->role))
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only a platform superadmin may do this")));
}

static void
nx_check_slug(const char *slug)
{
	size_t		len = strlen(slug);

	if (len < 2 || len > 63 ||
		strspn(slug, "abcdefghijklmnopqrstuvwxyz0123456789-") != len ||
		slug[0] == '-' || slug[len - 1] == '-')
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("invalid tenant slug"),
				 errdetail("A slug has 2 to 63 lower-case letters, digits or inner hyphens.")));
}

void
nx_check_email(const char *email)
{
	const char *at = strchr(email, '@');
	size_t		len = strlen(email);

	if (len < 3 || len > 254 || at == NULL || at == email ||
		strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL ||
		email[len - 1] == '.' || strpbrk(email, " \t\r\n<>\"") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("invalid email address"),
				 errhint("Use a plain address such as ops@example.com.")));
}

/*
 * tenant_create(slug, name, admin_email, admin_password): a PostgreSQL
 * superuser or a platform superadmin creates a tenant and its first admin.
 */
NX_TAKES_SECRET(nx_tenant_create)
{
	char	   *slug = text_to_cstring(nx_arg_text(fcinfo, 0, "slug", 63));
	char	   *name = text_to_cstring(nx_arg_text(fcinfo, 1, "name", 200));
	char	   *email = text_to_cstring(nx_arg_text(fcinfo, 2, "admin_email", 254));
	char	   *password = text_to_cstring(nx_arg_text(fcinfo, 3, "admin_password", 1024));
	char	   *hash;
	Jsonb	   *volatile result = NULL;

	nx_require_platform_admin();
	nx_check_slug(slug);
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("tenant name must not be empty")));
	nx_check_email(email);
	nx_password_check_policy(password);
	hash = nx_password_hash(password);
	explicit_bzero(password, strlen(password));

	SPI_connect();
	nx_system_enter();
	PG_TRY();
	{
		const char *targs[] = {slug, name};
		char	   *tenant_id;
		char	   *user_id;

		if (nx_spi("SELECT 1 FROM nexplane.tenants WHERE slug = $1", 1, targs) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_NX_CONFLICT),
					 errmsg("a tenant with slug \"%s\" already exists", slug),
					 errhint("Choose another slug.")));
		nx_spi("INSERT INTO nexplane.tenants (slug, name) VALUES ($1, $2)"
			   " RETURNING id", 2, targs);
		tenant_id = nx_spi_get(0, 1);
		{
			const char *uargs[] = {tenant_id, email, hash};

			nx_spi("INSERT INTO nexplane.users (tenant_id, email, password_hash, role)"
				   " VALUES ($1::uuid, $2, $3, 'admin') RETURNING id", 3, uargs);
			user_id = nx_spi_get(0, 1);
		}
		nx_audit_event(tenant_id, "tenant.create", "tenants", tenant_id,
						  psprintf("{\"slug\": \"%s\", \"admin_user_id\": \"%s\"}",
								   slug, user_id));
		{
			const char *args[] = {tenant_id, user_id};

			nx_spi("SELECT jsonb_build_object("
				   "  'tenant', jsonb_build_object('id', t.id, 'slug', t.slug,"
				   "            'name', t.name, 'created_at', t.created_at),"
				   "  'admin', jsonb_build_object('id', u.id, 'email', u.email,"
				   "            'role', u.role))"
				   "  FROM nexplane.tenants t JOIN nexplane.users u ON u.tenant_id = t.id"
				   " WHERE t.id = $1::uuid AND u.id = $2::uuid", 2, args);
			result = nx_spi_get_jsonb(0, 1);
		}
	}
	PG_FINALLY();
	{
		nx_system_leave();
	}
	PG_END_TRY();
	PG_RETURN_DATUM(nx_spi_return(result));
}

/*
 * act_as_tenant(tenant_id): a superadmin moves the current context into
 * another tenant.  Both tenants' audit trails record it.
 */
PG_FUNCTION_INFO_V1(nx_act_as_tenant);
Datum
nx_act_as_tenant(PG_FUNCTION_ARGS)
{
	const NxContext *cur = nx_require_role(NX_SUPERADMINS);
	NxContext	ctx = *cur;
	pg_uuid_t  *target;
	char	   *target_id;
	char	   *home_id = nx_uuid_out(&cur->home_tenant_id);
	Jsonb	   *volatile result = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("tenant_id is required")));
	target = PG_GETARG_UUID_P(0);
	target_id = nx_uuid_out(target);

	SPI_connect();
	nx_system_enter();
	PG_TRY();
	{
		const char *args[] = {target_id};
		char	   *detail = psprintf("{\"from_tenant\": \"%s\", \"to_tenant\": \"%s\"}",
									  home_id, target_id);

		if (nx_spi("SELECT jsonb_build_object('id', id, 'slug', slug, 'name', name)"
				   "  FROM nexplane.tenants WHERE id = $1::uuid", 1, args) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_NX_NOT_FOUND),
					 errmsg("tenant %s not found", target_id)));
		result = nx_spi_get_jsonb(0, 1);
		nx_audit_event(home_id, "superadmin.act_as_tenant", "tenants", target_id, detail);
		if (strcmp(home_id, target_id) != 0)
			nx_audit_event(target_id, "superadmin.act_as_tenant", "tenants", target_id, detail);
	}
	PG_FINALLY();
	{
		nx_system_leave();
	}
	PG_END_TRY();

	ctx.tenant_id = *target;
	nx_context_set(&ctx);
	PG_RETURN_DATUM(nx_spi_return(result));
}

/*
 * superadmin_grant(tenant_slug, email): only a PostgreSQL superuser makes
 * a platform superadmin; no role inside the product can.
 */
PG_FUNCTION_INFO_V1(nx_superadmin_grant);
Datum
nx_superadmin_grant(PG_FUNCTION_ARGS)
{
	char	   *slug = text_to_cstring(nx_arg_text(fcinfo, 0, "tenant_slug", 63));
	char	   *email = text_to_cstring(nx_arg_text(fcinfo, 1, "email", 254));
	Jsonb	   *volatile result = NULL;

	if (!nx_caller_is_superuser())
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only a PostgreSQL superuser may grant the superadmin role")));

	SPI_connect();
	nx_system_enter();
	PG_TRY();
	{
		const char *args[] = {slug, email};

		if (nx_spi("UPDATE nexplane.users u SET role = 'superadmin', updated_at = now()"
				   "  FROM nexplane.tenants t"
				   " WHERE t.id = u.tenant_id AND t.slug = $1"
				   "   AND lower(u.email) = lower($2)"
				   " RETURNING jsonb_build_object('id', u.id, 'email', u.email,"
				   "           'role', u.role, 'tenant_id', u.tenant_id),"
				   "           u.tenant_id, u.id", 2, args) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_NX_NOT_FOUND),
					 errmsg("no user with that email in tenant \"%s\"", slug)));
		result = nx_spi_get_jsonb(0, 1);
		nx_audit_event(nx_spi_get(0, 2), "superadmin.grant", "users", nx_spi_get(0, 3), "{}");
	}
	PG_FINALLY();
	{
		nx_system_leave();
	}
	PG_END_TRY();
	PG_RETURN_DATUM(nx_spi_return(result));
}
