/*-------------------------------------------------------------------------
 *
 * mariadb_accounts.c
 *	  The mariadb connector's account changes: rotate_password,
 *	  create_user, drop_user, lock_user and unlock_user.
 *
 * Each change reads its account from params ("user", "host"), or from
 * rollback_state when it has one, which names the very account execute
 * changed.  An existing account's host is looked up on the target when
 * params do not say it; a new account's host comes from params or the
 * connector's account_host, never from a default.
 *
 * Passwords reach the server only in their hashed form (see
 * mariadb_password.c).  A new account without a secret to set gets none
 * that works ('invalid', as the server's own root account does), so it
 * cannot log in until rotate_password gives it one; it is never left
 * with an empty password.
 *
 *-------------------------------------------------------------------------
 */
#include "mariadb_internal.h"

/* The password plugin whose hashed form the connector writes. */
#define NXM_NATIVE_PLUGIN "mysql_native_password"

/*
 * nxm_refuse_self: a change that would lock or drop the connector's own
 * login would leave nobody able to undo it.
 */
static bool
nxm_refuse_self(MYSQL *db, const NxmAccount *a, const char *what, NxConnectorResult *out)
{
	bool		self;

	if (!nxm_account_is_self(db, a, &self, out))
		return false;
	if (self)
	{
		nx_connector_fail(out, "account %s is the connector's own login: it will not %s it",
						  nxm_account_display(a), what);
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- */
/* rotate_password												 */
/* ---------------------------------------------------------------- */

/*
 * The account is params.user, or the new secret's username (a rotation of
 * an account's own credential); when both are given they must agree.
 */
static bool
nxm_rotate_prepare(const NxConnectorCall *call, NxmPlan *plan, NxConnectorResult *out)
{
	char	   *username = nx_jsonb_get_cstring(call->new_secret, "username");

	if (!nxm_plan_account(call, plan, out))
		return false;
	plan->password = nx_jsonb_get_cstring(call->new_secret, "password");
	if (plan->password == NULL || plan->password[0] == '\0')
	{
		nx_connector_fail(out, "the rotation has no new secret to set (new_secret.password)");
		return false;
	}
	if (username != NULL && plan->account.user != NULL && strcmp(username, plan->account.user) != 0)
	{
		nx_connector_fail(out, "params.user and the new secret's username name different accounts");
		return false;
	}
	if (plan->account.user == NULL && username != NULL)
	{
		if (!nxm_valid_user(username))
		{
			nx_connector_fail(out, "the new secret's username is not a valid account name");
			return false;
		}
		plan->account.user = username;
	}
	return nxm_require_user(plan, out);
}

/*
 * The account must exist and log in by mysql_native_password alone: the
 * hashed form replaces every way in, so rotating an account that also
 * authenticates another way (unix_socket, ed25519) would take that away.
 */
static bool
nxm_rotate_target(MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmAccountState st;

	if (!nxm_account_resolve(db, &plan->account, out) ||
		!nxm_account_state(db, &plan->account, &st, out))
		return false;
	if (st.plugin == NULL || strcmp(st.plugin, NXM_NATIVE_PLUGIN) != 0 || st.other_methods)
	{
		nx_connector_fail(out, "account %s authenticates by %s%s: only %s passwords are rotated, "
						  "and setting one would replace that", nxm_account_display(&plan->account),
						  st.plugin ? st.plugin : "an unnamed plugin",
						  st.other_methods ? " and other methods" : "", NXM_NATIVE_PLUGIN);
		return false;
	}
	return true;
}

/*
 * pre_check gives the rollback state execute would: the account, its host
 * as the target keeps it.  The engine stores it before execute, so a
 * worker lost inside execute leaves a rollback (to the previous version,
 * which the vault keeps) possible.
 */
static void
nxm_rotate_pre_check(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	if (!nxm_rotate_target(db, plan, out))
		return;
	out->result = nxm_account_result(&plan->account);
	out->rollback_state = nxm_account_result(&plan->account);
	out->ok = true;
}

/* execute, and rollback (new_secret is then the previous password) */
static void
nxm_rotate_execute(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	StringInfoData buf;
	char	   *hash;

	if (!nxm_rotate_target(db, plan, out) || !nxm_step(call, 50, "setting the password", out))
		return;
	hash = nxm_native_hash(plan->password);
	if (!nxm_exec(db, psprintf("ALTER USER %s IDENTIFIED BY PASSWORD %s",
							   nxm_account_sql(db, &plan->account), nxm_literal(db, hash)),
				  "set the account's password", hash + 1, out))
		return;
	out->rollback_state = nxm_account_result(&plan->account);
	nxm_result_start(&buf, &plan->account);
	appendStringInfoString(&buf, ", \"password_changed\": true");
	out->result = nxm_result_end(&buf);
	out->ok = true;
}

/*
 * The proof is a login as the account with the password just set, from
 * where the connector runs: the account's host must let it in.
 */
static void
nxm_rotate_verify(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	StringInfoData buf;

	nxm_result_start(&buf, &plan->account);
	if (!nxm_login_proves(call, &plan->account, plan->password, &buf, out))
	{
		out->evidence = nxm_result_end(&buf);
		return;
	}
	out->evidence = nxm_result_end(&buf);
	out->ok = true;
}

const NxmChange nxm_rotate_password = {
	.name = "rotate_password",
	.prepare = nxm_rotate_prepare,
	.pre_check = nxm_rotate_pre_check,
	.execute = nxm_rotate_execute,
	.verify = nxm_rotate_verify,
	.rollback = nxm_rotate_execute,	/* with the previous password */
	/* the rotated account may be the connector's own: its old login is gone */
	.verify_alone = true,
};

/* ---------------------------------------------------------------- */
/* create_user													 */
/* ---------------------------------------------------------------- */

static bool
nxm_create_prepare(const NxConnectorCall *call, NxmPlan *plan, NxConnectorResult *out)
{
	if (!nxm_plan_account(call, plan, out) || !nxm_require_user(plan, out))
		return false;
	if (plan->account.host == NULL)
	{
		char	   *host = nx_jsonb_get_cstring(call->config, "account_host");

		if (host == NULL || host[0] == '\0')
		{
			nx_connector_fail(out, "the new account needs a host: give params.host, or set the "
							  "connector's account_host");
			return false;
		}
		if (!nxm_valid_host(host))
		{
			nx_connector_fail(out, "the connector's account_host is not a valid host");
			return false;
		}
		plan->account.host = host;
	}
	plan->password = nx_jsonb_get_cstring(call->new_secret, "password");
	if (plan->password != NULL && plan->password[0] == '\0')
		plan->password = NULL;
	return true;
}

static bool
nxm_create_absent(MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmAccountState st;

	if (!nxm_account_state(db, &plan->account, &st, out))
		return false;
	if (st.exists)
	{
		nx_connector_fail(out, "account %s already exists", nxm_account_display(&plan->account));
		return false;
	}
	return true;
}

/* pre_check's rollback state is execute's: the account to drop again. */
static void
nxm_create_pre_check(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	if (!nxm_create_absent(db, plan, out))
		return;
	out->result = nxm_account_result(&plan->account);
	out->rollback_state = nxm_account_result(&plan->account);
	out->ok = true;
}

static void
nxm_create_execute(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	StringInfoData buf;
	char	   *hash = plan->password ? nxm_native_hash(plan->password) : NULL;
	char	   *how;

	if (!nxm_create_absent(db, plan, out) || !nxm_step(call, 50, "creating the account", out))
		return;
	how = hash ? psprintf("IDENTIFIED BY PASSWORD %s", nxm_literal(db, hash))
		: "IDENTIFIED VIA " NXM_NATIVE_PLUGIN " USING 'invalid'";
	/* no IF NOT EXISTS: an account made since the check is not ours to take */
	if (!nxm_exec(db, psprintf("CREATE USER %s %s", nxm_account_sql(db, &plan->account), how),
				  "create the account", hash ? hash + 1 : NULL, out))
		return;
	out->rollback_state = nxm_account_result(&plan->account);
	nxm_result_start(&buf, &plan->account);
	appendStringInfo(&buf, ", \"created\": true, \"password_set\": %s", hash ? "true" : "false");
	out->result = nxm_result_end(&buf);
	out->ok = true;
}

static void
nxm_create_verify(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmAccountState st;
	StringInfoData buf;

	if (!nxm_account_state(db, &plan->account, &st, out))
		return;
	nxm_result_start(&buf, &plan->account);
	appendStringInfo(&buf, ", \"exists\": %s", st.exists ? "true" : "false");
	if (call->undoing ? st.exists : !st.exists)
	{
		out->evidence = nxm_result_end(&buf);
		nx_connector_fail(out, "account %s %s", nxm_account_display(&plan->account),
						  st.exists ? "still exists" : "does not exist");
		return;
	}
	if (!call->undoing && plan->password != NULL &&
		!nxm_login_proves(call, &plan->account, plan->password, &buf, out))
	{
		out->evidence = nxm_result_end(&buf);
		return;
	}
	out->evidence = nxm_result_end(&buf);
	out->ok = true;
}

/* DROP USER, unless it is gone already */
static void
nxm_drop_account(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmAccountState st;
	StringInfoData buf;

	if (!nxm_account_state(db, &plan->account, &st, out))
		return;
	if (st.exists)
	{
		if (!nxm_step(call, 50, "dropping the account", out) ||
			!nxm_exec(db, psprintf("DROP USER %s", nxm_account_sql(db, &plan->account)),
					  "drop the account", NULL, out))
			return;
	}
	nxm_result_start(&buf, &plan->account);
	appendStringInfo(&buf, ", \"dropped\": %s", st.exists ? "true" : "false");
	out->result = nxm_result_end(&buf);
	out->ok = true;
}

const NxmChange nxm_create_user = {
	.name = "create_user",
	.prepare = nxm_create_prepare,
	.pre_check = nxm_create_pre_check,
	.execute = nxm_create_execute,
	.verify = nxm_create_verify,
	.rollback = nxm_drop_account,
};

/* ---------------------------------------------------------------- */
/* drop_user														 */
/* ---------------------------------------------------------------- */

static bool
nxm_account_prepare(const NxConnectorCall *call, NxmPlan *plan, NxConnectorResult *out)
{
	return nxm_plan_account(call, plan, out) && nxm_require_user(plan, out);
}

static void
nxm_drop_pre_check(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	if (!nxm_account_resolve(db, &plan->account, out) ||
		!nxm_refuse_self(db, &plan->account, "drop", out))
		return;
	out->result = nxm_account_result(&plan->account);
	out->ok = true;
}

static void
nxm_drop_execute(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	if (!nxm_account_resolve(db, &plan->account, out) ||
		!nxm_refuse_self(db, &plan->account, "drop", out))
		return;
	nxm_drop_account(call, db, plan, out);
}

static void
nxm_drop_verify(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmAccountState st;
	StringInfoData buf;

	if (plan->account.host == NULL)
	{
		/* execute found the user's one account; now there must be none */
		NxmRows    *rows = nxm_query(db, psprintf("SELECT Host FROM mysql.global_priv"
												  " WHERE User = %s AND Host <> '' LIMIT 1",
												  nxm_literal(db, plan->account.user)),
									 "look up the user's accounts", out);

		if (rows == NULL)
			return;
		st.exists = rows->nrows > 0;
		if (st.exists)
			plan->account.host = NXM_VALUE(rows, 0, 0);
	}
	else if (!nxm_account_state(db, &plan->account, &st, out))
		return;
	nxm_result_start(&buf, &plan->account);
	appendStringInfo(&buf, ", \"exists\": %s", st.exists ? "true" : "false");
	out->evidence = nxm_result_end(&buf);
	if (st.exists)
	{
		nx_connector_fail(out, "account %s still exists", nxm_account_display(&plan->account));
		return;
	}
	out->ok = true;
}

const NxmChange nxm_drop_user = {
	.name = "drop_user",
	.prepare = nxm_account_prepare,
	.pre_check = nxm_drop_pre_check,
	.execute = nxm_drop_execute,
	.verify = nxm_drop_verify,
	.rollback = NULL,
};

/* ---------------------------------------------------------------- */
/* lock_user and unlock_user: ACCOUNT LOCK and ACCOUNT UNLOCK		 */
/* ---------------------------------------------------------------- */

static bool
nxm_lock_prepare(const NxConnectorCall *call, NxmPlan *plan, NxConnectorResult *out)
{
	plan->turn_on = true;
	return nxm_account_prepare(call, plan, out);
}

static bool
nxm_unlock_prepare(const NxConnectorCall *call, NxmPlan *plan, NxConnectorResult *out)
{
	plan->turn_on = false;
	return nxm_account_prepare(call, plan, out);
}

/* The account exists, and locking it does not lock the connector out. */
static bool
nxm_lock_target(MYSQL *db, NxmPlan *plan, NxmAccountState *st, bool locking,
				NxConnectorResult *out)
{
	if (!nxm_account_resolve(db, &plan->account, out))
		return false;
	if (locking && !nxm_refuse_self(db, &plan->account, "lock", out))
		return false;
	return nxm_account_state(db, &plan->account, st, out);
}

/*
 * nxm_end_sessions ends the open sessions of an account.  The process
 * list shows a session's user and client host, not the account it logged
 * in as, so a session counts as the account's when its user is the
 * account's and its client host matches the account's host pattern (what
 * KILL USER cannot do: it compares hosts literally).  A session of a more
 * specific account of the same user name whose host also matches the
 * pattern ends too; docs/connectors/mariadb.md says so.
 */
static bool
nxm_end_sessions(MYSQL *db, const NxmAccount *a, NxConnectorResult *out)
{
	NxmRows    *rows = nxm_query(db, psprintf("SELECT ID FROM information_schema.PROCESSLIST"
											  " WHERE USER = %s AND ID <> CONNECTION_ID()"
											  "   AND SUBSTRING_INDEX(HOST, ':', 1) LIKE %s",
											  nxm_literal(db, a->user), nxm_literal(db, a->host)),
								 "list the account's sessions", out);

	if (rows == NULL)
		return false;
	for (int r = 0; r < rows->nrows; r++)
	{
		/* the id is the server's number, checked before it goes back */
		const char *id = NXM_VALUE(rows, r, 0);

		if (id == NULL || strspn(id, "0123456789") != strlen(id) || strlen(id) > 20)
		{
			nx_connector_fail(out, "the server listed a session id that is not a number");
			return false;
		}
		if (!nxm_exec(db, psprintf("KILL CONNECTION %s", id), "end the account's open sessions",
					  NULL, out))
		{
			/* one that ended meanwhile is no error (1094: unknown thread) */
			if (mysql_errno(db) != 1094)
				return false;
			out->error = NULL;
		}
	}
	return true;
}

/* The rollback state of a lock change: the account and its lock before. */
static Jsonb *
nxm_lock_state(const NxmPlan *plan, bool locked_before)
{
	StringInfoData buf;

	nxm_result_start(&buf, &plan->account);
	appendStringInfo(&buf, ", \"locked_before\": %s", locked_before ? "true" : "false");
	return nxm_result_end(&buf);
}

/* Set the lock to `locked` unless it is already; rollback_state says what it was. */
static void
nxm_lock_set(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, bool locked,
			 NxConnectorResult *out)
{
	NxmAccountState st;
	StringInfoData buf;
	bool		change;

	if (!nxm_lock_target(db, plan, &st, locked, out))
		return;
	change = st.locked != locked;
	if (change && (!nxm_step(call, 50, locked ? "locking the account" : "unlocking the account", out) ||
				   !nxm_exec(db, psprintf("ALTER USER %s ACCOUNT %s",
										  nxm_account_sql(db, &plan->account),
										  locked ? "LOCK" : "UNLOCK"),
							 locked ? "lock the account" : "unlock the account", NULL, out)))
		return;

	/*
	 * ACCOUNT LOCK refuses new logins only: sessions already open keep
	 * working, so a lock ends them too (also when the account was locked
	 * already: a lock that leaves a live session is no lock).  If that
	 * fails, the lock stays and rollback_state says how to undo it.
	 */
	if (locked)
	{
		out->rollback_state = nxm_lock_state(plan, st.locked);
		if (!nxm_step(call, 75, "ending the account's sessions", out) ||
			!nxm_end_sessions(db, &plan->account, out))
			return;
	}
	out->rollback_state = nxm_lock_state(plan, st.locked);
	nxm_result_start(&buf, &plan->account);
	appendStringInfo(&buf, ", \"locked\": %s, \"changed\": %s", locked ? "true" : "false",
					 change ? "true" : "false");
	out->result = nxm_result_end(&buf);
	out->ok = true;
}

/* pre_check's rollback state is execute's: the lock as it is now. */
static void
nxm_lock_pre_check(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmAccountState st;
	StringInfoData buf;

	if (!nxm_lock_target(db, plan, &st, plan->turn_on, out))
		return;
	nxm_result_start(&buf, &plan->account);
	appendStringInfo(&buf, ", \"locked\": %s", st.locked ? "true" : "false");
	out->result = nxm_result_end(&buf);
	out->rollback_state = nxm_lock_state(plan, st.locked);
	out->ok = true;
}

static void
nxm_lock_execute(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	nxm_lock_set(call, db, plan, plan->turn_on, out);
}

/* The account shows the lock set, or with undoing the lock it had before. */
static void
nxm_lock_verify(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmAccountState st;
	StringInfoData buf;
	bool		want = plan->turn_on;

	if (call->undoing)
		want = nx_jsonb_get_bool(call->rollback_state, "locked_before");
	if (!nxm_account_resolve(db, &plan->account, out) ||
		!nxm_account_state(db, &plan->account, &st, out))
		return;
	nxm_result_start(&buf, &plan->account);
	appendStringInfo(&buf, ", \"locked\": %s, \"expected_locked\": %s",
					 st.locked ? "true" : "false", want ? "true" : "false");
	out->evidence = nxm_result_end(&buf);
	if (st.locked != want)
	{
		nx_connector_fail(out, "account %s is %s", nxm_account_display(&plan->account),
						  st.locked ? "locked" : "not locked");
		return;
	}
	out->ok = true;
}

static void
nxm_lock_rollback(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	nxm_lock_set(call, db, plan, nx_jsonb_get_bool(call->rollback_state, "locked_before"), out);
}

const NxmChange nxm_lock_user = {
	.name = "lock_user",
	.prepare = nxm_lock_prepare,
	.pre_check = nxm_lock_pre_check,
	.execute = nxm_lock_execute,
	.verify = nxm_lock_verify,
	.rollback = nxm_lock_rollback,
};

const NxmChange nxm_unlock_user = {
	.name = "unlock_user",
	.prepare = nxm_unlock_prepare,
	.pre_check = nxm_lock_pre_check,
	.execute = nxm_lock_execute,
	.verify = nxm_lock_verify,
	.rollback = nxm_lock_rollback,
};
