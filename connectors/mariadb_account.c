/*-------------------------------------------------------------------------
 *
 * mariadb_account.c
 *	  Accounts of the mariadb connector: their names checked, quoted and
 *	  looked up on the target.
 *
 * A MariaDB account is a user name and a host pattern; the same user may
 * exist for several hosts, each a separate account with its own password
 * and privileges.  The host of an existing account comes from the target
 * (mysql.global_priv, where MariaDB 10.4 and later keep accounts, roles
 * included), never from a default: a change that names only the user
 * finds the one account of that name, and is refused when there are
 * several, so that it never changes an account nobody meant.
 *
 *-------------------------------------------------------------------------
 */
#include "mariadb_internal.h"

/*
 * Names are checked against short lists of characters rather than
 * escaped and hoped for: what passes needs no quoting at all, and the
 * quoting applied anyway is a second wall.
 */
static bool
nxm_name_ok(const char *s, int maxlen, const char *extra)
{
	size_t		len = strlen(s);

	if (len == 0 || len > (size_t) maxlen)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || strchr(extra, *p) != NULL))
			return false;
	return true;
}

/* A user name: letters, digits, '_', '.', '-' and '@' (mail addresses). */
bool
nxm_valid_user(const char *s)
{
	return nxm_name_ok(s, NXM_MAX_USER, ".-@");
}

/*
 * A host pattern: a name or address (IPv4, IPv6, with a /netmask), and
 * the server's wildcards '%' and '_'.  An explicit '%' is allowed; it is
 * never assumed.
 */
bool
nxm_valid_host(const char *s)
{
	return nxm_name_ok(s, NXM_MAX_HOST, ".-:%/");
}

/*
 * nxm_account_from reads "user" and "host" from jb (params or
 * rollback_state); either may be missing (NULL), but what is there must
 * be a valid name.
 */
bool
nxm_account_from(Jsonb *jb, const char *what, NxmAccount *a, NxConnectorResult *out)
{
	a->user = nx_jsonb_get_cstring(jb, "user");
	a->host = nx_jsonb_get_cstring(jb, "host");
	if (a->user != NULL && !nxm_valid_user(a->user))
	{
		nx_connector_fail(out, "%s.user is not a valid account name: use 1 to %d letters, digits "
						  "or the characters _ . - @", what, NXM_MAX_USER);
		return false;
	}
	if (a->host != NULL && !nxm_valid_host(a->host))
	{
		nx_connector_fail(out, "%s.host is not a valid host: use 1 to %d letters, digits or the "
						  "characters _ . - : / %%", what, NXM_MAX_HOST);
		return false;
	}
	return true;
}

/* 'user'@'host', quoted for SQL. */
char *
nxm_account_sql(MYSQL *db, const NxmAccount *a)
{
	return psprintf("%s@%s", nxm_literal(db, a->user), nxm_literal(db, a->host));
}

/* 'user'@'host' for messages and results (the names are checked). */
char *
nxm_account_display(const NxmAccount *a)
{
	return psprintf("'%s'@'%s'", a->user, a->host ? a->host : "?");
}

/* "user": ..., "host": ..., "account": ... for a JSON object. */
void
nxm_account_json(StringInfo buf, const NxmAccount *a)
{
	nxm_json_str(buf, "user", a->user, false);
	nxm_json_str(buf, "host", a->host, true);
	nxm_json_str(buf, "account", nxm_account_display(a), true);
}

/* A JSON true as JSON_VALUE gives it: "1" (MariaDB 10.11) or "true". */
bool
nxm_json_true(const char *v)
{
	return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/*
 * nxm_account_state looks up the account user@host.  The server compares
 * hosts case-insensitively; a->host becomes the spelling it keeps.
 */
bool
nxm_account_state(MYSQL *db, NxmAccount *a, NxmAccountState *st, NxConnectorResult *out)
{
	NxmRows    *rows;

	rows = nxm_query(db, psprintf("SELECT Host, JSON_VALUE(Priv, '$.plugin'),"
								  " JSON_VALUE(Priv, '$.account_locked'),"
								  " JSON_EXISTS(Priv, '$.auth_or')"
								  " FROM mysql.global_priv WHERE User = %s AND Host = %s"
								  " AND JSON_VALUE(Priv, '$.is_role') IS NULL",
								  nxm_literal(db, a->user), nxm_literal(db, a->host)),
					 "read the account from mysql.global_priv", out);
	if (rows == NULL)
		return false;
	memset(st, 0, sizeof(*st));
	st->exists = rows->nrows > 0;
	if (!st->exists)
		return true;
	a->host = NXM_VALUE(rows, 0, 0);
	st->plugin = NXM_VALUE(rows, 0, 1);
	st->locked = nxm_json_true(NXM_VALUE(rows, 0, 2));
	st->other_methods = nxm_json_true(NXM_VALUE(rows, 0, 3));
	return true;
}

/*
 * nxm_account_resolve makes sure a names one existing account: with a
 * host, that account must exist; without one, the user must exist for
 * exactly one host, which a takes.
 */
bool
nxm_account_resolve(MYSQL *db, NxmAccount *a, NxConnectorResult *out)
{
	NxmRows    *rows;
	StringInfoData hosts;

	if (a->host != NULL)
	{
		NxmAccountState st;

		if (!nxm_account_state(db, a, &st, out))
			return false;
		if (!st.exists)
		{
			nx_connector_fail(out, "account %s does not exist", nxm_account_display(a));
			return false;
		}
		return true;
	}
	rows = nxm_query(db, psprintf("SELECT Host FROM mysql.global_priv WHERE User = %s"
								  " AND Host <> '' AND JSON_VALUE(Priv, '$.is_role') IS NULL"
								  " ORDER BY Host LIMIT 6",
								  nxm_literal(db, a->user)),
					 "look up the account's hosts in mysql.global_priv", out);
	if (rows == NULL)
		return false;
	if (rows->nrows == 0)
	{
		nx_connector_fail(out, "no account named '%s' exists", a->user);
		return false;
	}
	if (rows->nrows == 1)
	{
		a->host = NXM_VALUE(rows, 0, 0);
		return true;
	}
	initStringInfo(&hosts);
	for (int r = 0; r < Min(rows->nrows, 5); r++)
		appendStringInfo(&hosts, "%s'%s'", r ? ", " : "", NXM_VALUE(rows, r, 0));
	if (rows->nrows > 5)
		appendStringInfoString(&hosts, ", ...");
	nx_connector_fail(out, "user '%s' has accounts for several hosts (%s): say which one in "
					  "params.host", a->user, hosts.data);
	return false;
}

/* nxm_account_is_self: is a the account the connector is logged in as? */
bool
nxm_account_is_self(MYSQL *db, const NxmAccount *a, bool *self, NxConnectorResult *out)
{
	NxmRows    *rows = nxm_query(db, "SELECT CURRENT_USER()", "read CURRENT_USER()", out);
	char	   *me;
	char	   *at;

	if (rows == NULL)
		return false;
	me = rows->nrows == 1 ? NXM_VALUE(rows, 0, 0) : NULL;
	at = me ? strrchr(me, '@') : NULL;
	if (at == NULL)
	{
		nx_connector_fail(out, "the server did not say which account the connector is");
		return false;
	}
	*at = '\0';
	*self = strcmp(me, a->user) == 0 && pg_strcasecmp(at + 1, a->host) == 0;
	return true;
}

/*
 * nxm_plan_source: where a change's names come from.  rollback_state,
 * when execute stored one, names the very account (and object) it
 * changed; otherwise params.
 */
Jsonb *
nxm_plan_source(const NxConnectorCall *call, const char **what)
{
	if (call->rollback_state != NULL && nx_jsonb_get_cstring(call->rollback_state, "user") != NULL)
	{
		*what = "rollback_state";
		return call->rollback_state;
	}
	*what = "params";
	return call->params;
}

/* The account a change names; the host may stay NULL, to be looked up. */
bool
nxm_plan_account(const NxConnectorCall *call, NxmPlan *plan, NxConnectorResult *out)
{
	const char *what;
	Jsonb	   *from = nxm_plan_source(call, &what);

	return nxm_account_from(from, what, &plan->account, out);
}

bool
nxm_require_user(const NxmPlan *plan, NxConnectorResult *out)
{
	if (plan->account.user != NULL)
		return true;
	nx_connector_fail(out, "params.user is required");
	return false;
}

/* Undoing needs what execute stored. */
bool
nxm_require_rollback_state(const NxConnectorCall *call, NxConnectorResult *out)
{
	const char *what;

	if (nxm_plan_source(call, &what) == call->rollback_state && call->rollback_state != NULL)
		return true;
	nx_connector_fail(out, "there is no rollback_state from execute: nothing to undo");
	return false;
}

/* out->result (and rollback_state) of an account: {"user", "host", "account"}, then more. */
void
nxm_result_start(StringInfo buf, const NxmAccount *a)
{
	initStringInfo(buf);
	appendStringInfoChar(buf, '{');
	nxm_account_json(buf, a);
}

Jsonb *
nxm_result_end(StringInfo buf)
{
	appendStringInfoChar(buf, '}');
	return nxm_jsonb(buf);
}

Jsonb *
nxm_account_result(const NxmAccount *a)
{
	StringInfoData buf;

	nxm_result_start(&buf, a);
	return nxm_result_end(&buf);
}
