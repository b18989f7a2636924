/*-------------------------------------------------------------------------
 *
 * postgresql_password.c
 *	  rotate_password: set a role's password to the secret the engine made,
 *	  and prove it by logging in as the role with it.
 *
 * The password never reaches the target in SQL.  libpq's
 * PQencryptPasswordConn makes a SCRAM-SHA-256 verifier here, with a fresh
 * salt (always SCRAM, whatever the target's password_encryption says: an
 * MD5 hash would be a password equivalent), and ALTER ROLE carries only
 * the verifier, so the target's statement log, pg_stat_statements and
 * error lines can hold nothing that logs in.  (ALTER ROLE takes no bound
 * parameters, so the verifier is a quoted literal.)
 *
 * The account is new_secret's username: the engine passes the account's
 * credential (params.credential_id, or the connector's own).  A rollback
 * gets the previous version as new_secret and sets it back the same way;
 * verify logs in as the account with new_secret in both directions.  The
 * proof counts only if the server asked for the password (the session
 * refuses a trust login), and since a role has one password, the new one
 * logging in means the old one no longer does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgresql_int.h"

#define NX_PG_PASSWORD_MAX 1024

/* The account a secret names: its username, checked. */
static const char *
nx_pg_secret_user(NxConnectorResult *out, Jsonb *secret, const char *which)
{
	char	   *user = nx_jsonb_get_cstring(secret, "username");

	if (user == NULL)
	{
		nx_connector_fail(out, "the %s's username must be a string", which);
		return NULL;
	}
	if (!nx_pg_check_name(out, psprintf("%s username", which), user))
		return NULL;
	return user;
}

/*
 * The account being rotated.  execute, rollback and verify have the
 * secret the engine made (new_secret); a pre_check may run before it
 * exists, and then the current secret or, without a credential_id, the
 * connector's own login names the account.
 */
static const char *
nx_pg_account(NxPgSession *s, bool need_new)
{
	const NxConnectorCall *call = s->call;
	const char *user = NULL, *old = NULL;

	if (nx_pg_field(call->new_secret, "username") != NULL)
	{
		if ((user = nx_pg_secret_user(s->out, call->new_secret, "new secret")) == NULL)
			return NULL;
	}
	else if (need_new)
	{
		nx_connector_fail(s->out, "the new secret has no username");
		return NULL;
	}
	if (nx_pg_field(call->old_secret, "username") != NULL &&
		(old = nx_pg_secret_user(s->out, call->old_secret, "old secret")) == NULL)
		return NULL;
	if (user && old && strcmp(user, old) != 0)
	{
		nx_connector_fail(s->out, "the new and old secrets name different roles");
		return NULL;
	}
	if (user == NULL)
		user = old;
	if (user == NULL && nx_pg_field(call->params, "credential_id") == NULL)
		user = s->login;
	if (user == NULL)
		nx_connector_fail(s->out, "neither secret names the account to rotate");
	return user;
}

/* The role must exist and be able to log in: otherwise nothing could prove it. */
static bool
nx_pg_login_role(NxPgSession *s, const char *role)
{
	NxPgRows   *rows = nx_pg_exec(s, "reading the role",
								  "SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = $1",
								  1, &role);

	if (rows == NULL)
		return false;
	if (rows->ntuples != 1)
	{
		nx_connector_fail(s->out, "role \"%s\" does not exist on the target", role);
		return false;
	}
	if (strcmp(NX_PG_VALUE(rows, 0, 0), "t") != 0)
	{
		nx_connector_fail(s->out, "role \"%s\" cannot log in, so a new password could not be"
						  " proved", role);
		return false;
	}
	return true;
}

static void
rotate_pre_check(NxPgSession *s, const NxPgParams *p)
{
	const char *role = nx_pg_account(s, false);
	StringInfoData buf;

	if (role == NULL || !nx_pg_login_role(s, role))
		return;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", role);
	nx_json_bool(&buf, "login", true);
	appendStringInfoChar(&buf, '}');
	s->out->result = nx_json_parse(&buf);
	/* execute's, before the target is touched (see postgresql_roles.c) */
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", role);
	appendStringInfoChar(&buf, '}');
	s->out->rollback_state = nx_json_parse(&buf);
}

/*
 * Set role's password to new_secret's, as a SCRAM verifier.  Every copy
 * of the password and of the verifier is wiped once used.
 */
static bool
nx_pg_set_password(NxPgSession *s, const char *role)
{
	JsonbValue *v = nx_pg_field(s->call->new_secret, "password");
	char	   *password, *verifier, *literal, *ident, *sql;
	bool		ok;

	if (v == NULL || v->type != jbvString || v->val.string.len == 0 ||
		v->val.string.len > NX_PG_PASSWORD_MAX)
	{
		nx_connector_fail(s->out, "the new secret's password must be 1 to %d bytes",
						  NX_PG_PASSWORD_MAX);
		return false;
	}
	if ((ident = nx_pg_ident(s, role)) == NULL)
		return false;
	password = pnstrdup(v->val.string.val, v->val.string.len);
	if (strlen(password) != (size_t) v->val.string.len)
	{
		explicit_bzero(password, v->val.string.len);
		nx_connector_fail(s->out, "the new secret's password holds a NUL byte");
		return false;
	}
	verifier = PQencryptPasswordConn(s->conn, password, role, "scram-sha-256");
	explicit_bzero(password, strlen(password));
	if (verifier == NULL)
	{
		nx_connector_fail(s->out, "could not make the password's SCRAM verifier: %s",
						  PQerrorMessage(s->conn));
		return false;
	}
	literal = nx_pg_literal(s, verifier);
	explicit_bzero(verifier, strlen(verifier));
	PQfreemem(verifier);
	if (literal == NULL)
		return false;
	sql = psprintf("ALTER ROLE %s PASSWORD %s", ident, literal);
	ok = nx_pg_exec(s, "setting the password", sql, 0, NULL) != NULL;
	explicit_bzero(literal, strlen(literal));
	explicit_bzero(sql, strlen(sql));
	return ok;
}

static void
nx_pg_rotate_result(NxPgSession *s, const char *role, const char *done)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", role);
	nx_json_str(&buf, "password", done);
	nx_json_str(&buf, "sent_as", "SCRAM-SHA-256 verifier");
	appendStringInfoChar(&buf, '}');
	s->out->result = nx_json_parse(&buf);
}

static void
rotate_execute(NxPgSession *s, const NxPgParams *p)
{
	const char *role = nx_pg_account(s, true);
	StringInfoData buf;

	if (role == NULL || !nx_pg_login_role(s, role) || !nx_pg_set_password(s, role))
		return;
	/* the previous password comes back from the vault as new_secret */
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", role);
	appendStringInfoChar(&buf, '}');
	s->out->rollback_state = nx_json_parse(&buf);
	nx_pg_rotate_result(s, role, "changed");
}

static void
rotate_rollback(NxPgSession *s, const NxPgParams *p)
{
	const char *role = nx_pg_account(s, true);

	if (role == NULL || !nx_pg_login_role(s, role) || !nx_pg_set_password(s, role))
		return;
	nx_pg_rotate_result(s, role, "restored");
}

/*
 * Runs logged in as the account with new_secret: getting here is the
 * proof.  Check the server agrees who we are.
 */
static void
rotate_verify(NxPgSession *s, const NxPgParams *p)
{
	const char *role = nx_pg_account(s, true);
	NxPgRows   *rows;
	StringInfoData buf;

	if (role == NULL ||
		(rows = nx_pg_exec(s, "checking the login", "SELECT SESSION_USER", 0, NULL)) == NULL)
		return;
	if (rows->ntuples != 1 || NX_PG_VALUE(rows, 0, 0) == NULL ||
		strcmp(NX_PG_VALUE(rows, 0, 0), role) != 0)
	{
		nx_connector_fail(s->out, "the target says the login is another role");
		return;
	}
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", role);
	nx_json_bool(&buf, "logged_in", true);
	nx_json_bool(&buf, "server_checked_password", true);
	nx_json_bool(&buf, "ssl", PQsslInUse(s->conn));
	appendStringInfoChar(&buf, '}');
	s->out->evidence = nx_json_parse(&buf);
}

const NxPgChange nx_pg_rotate_password = {
	.name = "rotate_password",
	.pre_check = rotate_pre_check,
	.execute = rotate_execute,
	.verify = rotate_verify,
	.rollback = rotate_rollback,
	.verify_as_account = true,
};
