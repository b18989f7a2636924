/*-------------------------------------------------------------------------
 *
 * mariadb.c
 *	  The mariadb connector: accounts of a MariaDB server (10.4 or later),
 *	  over libmariadb.
 *
 * Declared here: its fields, its change types and their parameters, and
 * the operations, which open the connector's admin connection and hand
 * it to the change (mariadb_accounts.c, mariadb_grants.c) or to test and
 * discover.  A change's parameters are read and checked before anything
 * is sent to the target, so bad input is refused without a connection.
 *
 *-------------------------------------------------------------------------
 */
#include "mariadb_internal.h"

#include "mb/pg_wchar.h"
#include "utils/json.h"

static const NxField config_fields[] = {
	{"host", NX_FIELD_STRING, true, "Host name or address of the server."},
	{"port", NX_FIELD_INTEGER, false, "TCP port (default 3306)."},
	{"account_host", NX_FIELD_STRING, false,
	"The host part of accounts that create_user makes when params.host does not say; "
	"no default ('%' is never assumed)."},
	{"tls_ca", NX_FIELD_STRING, false, "PEM file of the CA; when set, TLS is required and verified."},
	{.name = NULL}
};

static const NxField credential_fields[] = {
	{"username", NX_FIELD_STRING, true, "An account with CREATE USER and GRANT OPTION."},
	{"password", NX_FIELD_STRING, true, "Its password."},
	{.name = NULL}
};

#define NXM_USER_FIELD(required) \
	{"user", NX_FIELD_STRING, required, "The account's user name."}
#define NXM_HOST_FIELD \
	{"host", NX_FIELD_STRING, false, \
	"The account's host; looked up on the server when the user has only one account."}

static const NxField rotate_params[] = {
	{"user", NX_FIELD_STRING, false, "The account's user name (default: the new secret's username)."},
	NXM_HOST_FIELD,
	{"credential_id", NX_FIELD_STRING, false,
	"The credential holding the account's password (default: the connector's own)."},
	{.name = NULL}
};

static const NxField create_params[] = {
	NXM_USER_FIELD(true),
	{"host", NX_FIELD_STRING, false, "The new account's host (default: the connector's account_host)."},
	{.name = NULL}
};

static const NxField account_params[] = {
	NXM_USER_FIELD(true),
	NXM_HOST_FIELD,
	{.name = NULL}
};

static const NxField grant_params[] = {
	NXM_USER_FIELD(true),
	NXM_HOST_FIELD,
	{"object", NX_FIELD_STRING, true, "db.* or db.table (not *.*, not the system schemas)."},
	{"privileges", NX_FIELD_STRING, true,
	"Comma-separated, from SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, "
	"ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, "
	"ALTER ROUTINE, EXECUTE, EVENT, TRIGGER, DELETE HISTORY."},
	{.name = NULL}
};

static const NxChangeType change_types[] = {
	{"rotate_password", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true,
	"Give an account a new generated password.", rotate_params, true},
	{"create_user", NX_CHANGE_ADDITIVE, NX_WEIGHT_ADDITIVE, true, "Create an account.", create_params, false},
	{"drop_user", NX_CHANGE_DESTRUCTIVE, NX_WEIGHT_DESTRUCTIVE, false, "Drop an account.", account_params, false},
	{"lock_user", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true, "ACCOUNT LOCK an account and end its open sessions.", account_params, false},
	{"unlock_user", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true, "ACCOUNT UNLOCK an account.", account_params, false},
	{"grant", NX_CHANGE_ADDITIVE, NX_WEIGHT_ADDITIVE, true, "Grant privileges on a database or table.", grant_params, false},
	{"revoke", NX_CHANGE_DESTRUCTIVE, NX_WEIGHT_DESTRUCTIVE, true, "Revoke privileges.", grant_params, false},
	{.name = NULL}
};

/* How each change type is carried out; the names match change_types. */
static const NxmChange *const changes[] = {
	&nxm_rotate_password,
	&nxm_create_user,
	&nxm_drop_user,
	&nxm_lock_user,
	&nxm_unlock_user,
	&nxm_grant,
	&nxm_revoke,
};

/* Run fn with the admin connection, closed whatever happens. */
static void
nxm_with_admin(const NxConnectorCall *call, NxmPlan *plan, NxmStepFn fn, NxConnectorResult *out)
{
	MYSQL	   *volatile db = NULL;

	if (!nxm_step(call, 10, "connecting", out))
		return;
	PG_TRY();
	{
		db = nxm_connect_admin(call, out);
		if (db != NULL)
			fn(call, db, plan, out);
	}
	PG_FINALLY();
	{
		if (db != NULL)
			mysql_close(db);
	}
	PG_END_TRY();
}

typedef enum NxmOp
{
	NXM_PRE_CHECK,
	NXM_EXECUTE,
	NXM_VERIFY,
	NXM_ROLLBACK
} NxmOp;

static void
nxm_change_op(const NxConnectorCall *call, NxConnectorResult *out, NxmOp op)
{
	const NxmChange *change = NULL;
	NxmPlan		plan = {0};
	NxmStepFn	fn;

	if (call->change_type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("a mariadb change operation was called without a change type")));
	for (size_t i = 0; i < lengthof(changes); i++)
		if (strcmp(changes[i]->name, call->change_type->name) == 0)
			change = changes[i];
	if (change == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("mariadb change type %s has no implementation", call->change_type->name)));
	fn = op == NXM_PRE_CHECK ? change->pre_check : op == NXM_EXECUTE ? change->execute
		: op == NXM_VERIFY ? change->verify : change->rollback;
	/* undoing: a change that can be, and what its execute stored */
	if (op == NXM_ROLLBACK || (op == NXM_VERIFY && call->undoing))
	{
		if (change->rollback == NULL)
		{
			nx_connector_fail(out, "%s cannot be rolled back", change->name);
			return;
		}
		if (!nxm_require_rollback_state(call, out))
			return;
	}
	if (!change->prepare(call, &plan, out))
		return;
	if (op == NXM_VERIFY && change->verify_alone)
		fn(call, NULL, &plan, out);
	else
		nxm_with_admin(call, &plan, fn, out);
	if (out->ok)
		nx_connector_step(call, 100, "done");
}

static void
nxm_pre_check(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxm_change_op(call, out, NXM_PRE_CHECK);
}

static void
nxm_execute(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxm_change_op(call, out, NXM_EXECUTE);
}

static void
nxm_verify(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxm_change_op(call, out, NXM_VERIFY);
}

static void
nxm_rollback(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxm_change_op(call, out, NXM_ROLLBACK);
}

/* test: the server's version and who the connector is there */
static void
nxm_test_on(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmRows    *rows = nxm_query(db, "SELECT VERSION(), CURRENT_USER()", "read the version", out);
	StringInfoData buf;

	if (rows == NULL)
		return;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nxm_json_str(&buf, "server_version", rows->nrows ? NXM_VALUE(rows, 0, 0) : NULL, false);
	nxm_json_str(&buf, "current_user", rows->nrows ? NXM_VALUE(rows, 0, 1) : NULL, true);
	nxm_json_str(&buf, "tls_cipher", mysql_get_ssl_cipher(db), true);
	appendStringInfoChar(&buf, '}');
	out->result = nxm_jsonb(&buf);
	out->ok = true;
}

static void
nxm_test(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxm_with_admin(call, NULL, nxm_test_on, out);
}

/* One asset; names are cut to the 200 bytes an asset's name may have. */
static void
nxm_asset(StringInfo buf, const char *kind, const char *external_id, const char *name)
{
	int			len = pg_mbcliplen(name, strlen(name), 200);

	appendStringInfo(buf, "%s{", buf->data[buf->len - 1] == '[' ? "" : ", ");
	nxm_json_str(buf, "kind", kind, false);
	nxm_json_str(buf, "external_id", external_id, true);
	nxm_json_str(buf, "name", pnstrdup(name, len), true);
	appendStringInfoString(buf, ", \"attributes\": {");
}

/*
 * discover: every account (roles aside) with its plugin and lock, and
 * every database; the system ones are marked.
 */
static void
nxm_discover_on(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	static const char *const system[] = {
		"information_schema", "mysql", "performance_schema", "sys",
	};
	NxmRows    *accounts;
	NxmRows    *dbs;
	StringInfoData buf;

	accounts = nxm_query(db, "SELECT User, Host, JSON_VALUE(Priv, '$.plugin'),"
						 " JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv"
						 " WHERE Host <> '' AND JSON_VALUE(Priv, '$.is_role') IS NULL"
						 " ORDER BY User, Host",
						 "list the accounts in mysql.global_priv", out);
	if (accounts == NULL || !nxm_step(call, 50, "listing databases", out))
		return;
	dbs = nxm_query(db, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1",
					"list the databases", out);
	if (dbs == NULL)
		return;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"assets\": [");
	for (int r = 0; r < accounts->nrows; r++)
	{
		NxmAccount	a = {NXM_VALUE(accounts, r, 0), NXM_VALUE(accounts, r, 1)};

		if (a.user == NULL || a.host == NULL)
			continue;
		nxm_asset(&buf, "account", nxm_account_display(&a), psprintf("%s@%s", a.user, a.host));
		nxm_json_str(&buf, "user", a.user, false);
		nxm_json_str(&buf, "host", a.host, true);
		nxm_json_str(&buf, "plugin", NXM_VALUE(accounts, r, 2), true);
		appendStringInfo(&buf, ", \"locked\": %s}}",
						 nxm_json_true(NXM_VALUE(accounts, r, 3)) ? "true" : "false");
	}
	for (int r = 0; r < dbs->nrows; r++)
	{
		const char *name = NXM_VALUE(dbs, r, 0);
		bool		is_system = false;

		if (name == NULL)
			continue;
		for (size_t i = 0; i < lengthof(system); i++)
			is_system |= strcmp(name, system[i]) == 0;
		nxm_asset(&buf, "database", name, name);
		appendStringInfo(&buf, "\"system\": %s}}", is_system ? "true" : "false");
	}
	appendStringInfoString(&buf, "]}");
	out->result = nxm_jsonb(&buf);
	out->ok = true;
}

static void
nxm_discover(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxm_with_admin(call, NULL, nxm_discover_on, out);
}

const NxConnector nx_mariadb_connector = {
	.name = "mariadb",
	.description = "MariaDB accounts: passwords, creation, locking and privileges.",
	.config_fields = config_fields,
	.credential_fields = credential_fields,
	.change_types = change_types,
	.test = nxm_test,
	.discover = nxm_discover,
	.pre_check = nxm_pre_check,
	.execute = nxm_execute,
	.verify = nxm_verify,
	.rollback = nxm_rollback,
};
