/*-------------------------------------------------------------------------
 *
 * redis_password.c
 *	  rotate_password for Redis ACL users, with an overlap: add the new
 *	  password beside the old, prove it by logging in as the account, and
 *	  only then remove the old.  Clients holding the old password keep
 *	  working until the new one is known to work; if it does not, it is
 *	  taken out again and the account is as it was.
 *
 * Passwords reach ACL SETUSER only as SHA-256 hashes ("#<hex>" adds one,
 * "!<hex>" removes one), so no ACL command, SLOWLOG entry or MONITOR
 * stream ever holds a plaintext; the plaintext travels only in AUTH.
 *
 * After a rotation the account has exactly one password, the new one:
 * every other hash is removed, the old password's and any the vault does
 * not know about (a rotation after a leak must not leave a stray password
 * working).  Adding a password also clears nopass.
 *
 * Rollback is the same operation towards the previous password (the
 * engine passes it as new_secret, with undoing): overlap again.
 *
 * A worker lost inside the overlap leaves both passwords working; the
 * recovery finishes the rotation (or its rollback) with finish_rotation
 * (rotate_finish), which removes the old one only when both really log in.
 *
 *-------------------------------------------------------------------------
 */
#include "redis_client.h"

/*
 * The password of a rotation secret ({"username", "password"}); NULL (out
 * says why) when there is none, or when the secret names another user.
 */
static char *
nxr_secret_password(NxRedis *r, Jsonb *secret, const char *which, const char *username)
{
	char	   *user = nx_jsonb_get_cstring(secret, "username");
	char	   *password = nx_jsonb_get_cstring(secret, "password");

	if (user != NULL && strcmp(user, username) != 0)
	{
		nxr_secret_free(password);
		nx_connector_fail(r->out, "%s is the credential of another user, not of \"%s\"", which, username);
		return NULL;
	}
	if (password == NULL || password[0] == '\0')
	{
		nxr_secret_free(password);
		nx_connector_fail(r->out, "%s has no password", which);
		return NULL;
	}
	return password;
}

/* The account exists and is on: a password can be proved by logging in. */
static bool
rotate_check(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;

	if (!nxr_get_user(r, a->username, &u))
		return false;
	if (!u.exists)
	{
		nx_connector_fail(r->out, "the redis server has no user \"%s\"", a->username);
		return false;
	}
	if (!u.on)
	{
		nx_connector_fail(r->out, "user \"%s\" is off, so no login can prove its new password: "
						  "enable it first", a->username);
		return false;
	}
	return true;
}

/*
 * The rollback state of a rotation: the user and what it had before (no
 * hash: the previous password comes back from the vault as new_secret).
 */
static Jsonb *
rotate_state_of(const NxRedisArgs *a, const NxRedisUser *before)
{
	StringInfoData state;

	nx_json_begin(&state);
	nx_json_str(&state, "username", a->username);
	nx_json_int(&state, "passwords_before", before->npasswords);
	nx_json_bool(&state, "nopass_before", before->nopass);
	return nx_json_end(&state);
}

/* pre_check's: execute's, from the user as it is before execute touches it. */
static Jsonb *
rotate_state(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser before;

	if (!nxr_get_user(r, a->username, &before))
		return NULL;
	return rotate_state_of(a, &before);
}

/*
 * Remove every password of the account but the one whose hash is keep,
 * reading the hashes from ACL GETUSER (no plaintext needed); *after is the
 * user as read just before, *nremove how many went.
 */
static bool
remove_others(NxRedis *r, const NxRedisArgs *a, const char *keep, NxRedisUser *after, int *nremove)
{
	const char **remove;

	*nremove = 0;
	if (!nxr_get_user(r, a->username, after))
		return false;
	remove = palloc(sizeof(char *) * (after->npasswords + 1));
	for (int i = 0; i < after->npasswords; i++)
		if (after->hashes[i] && strcmp(after->hashes[i], keep) != 0)
			remove[(*nremove)++] = psprintf("!%s", after->hashes[i]);
	return *nremove == 0 || nxr_set_user(r, a->username, true, *nremove, remove);
}

/*
 * Give the account password in place of all others, proving it by a login
 * in between.
 */
static void
rotate_with(NxRedis *r, const NxRedisArgs *a, const char *password)
{
	NxRedisUser before,
				after;
	char	   *hash;
	const char *add[1];
	int			nremove;
	NxRedisLogin login;
	bool		saved;
	StringInfoData result,
				evidence;

	if (!rotate_check(r, a) || !nxr_get_user(r, a->username, &before) ||
		!nxr_step(r, 20, "adding the new password"))
		return;
	hash = nxr_password_hash(password);
	add[0] = psprintf("#%s", hash);
	if (!nxr_set_user(r, a->username, true, 1, add))
		return;
	nxr_progress(r, 40, "logging in as the account");

	login = nxr_try_login(r->call, r->out, a->username, password);
	if (login != NXR_LOGIN_OK)
	{
		/*
		 * Take the unproved password out again, so the account is as before
		 * ("nopass" also clears the password list).
		 */
		const char *undo[1] = {before.nopass ? "nopass" : psprintf("!%s", hash)};
		char	   *why = login == NXR_LOGIN_ERROR ? r->out->error : "the server refused it";

		if (nxr_set_user(r, a->username, true, 1, undo))
			nx_connector_fail(r->out, "logging in as \"%s\" with the new password failed (%s), so "
							  "it was removed again; the old password still works", a->username, why);
		else
			nx_connector_fail(r->out, "logging in as \"%s\" with the new password failed (%s), and "
							  "removing it again failed too: both passwords are set", a->username, why);
		return;
	}

	nxr_progress(r, 70, "removing the old password");
	if (!remove_others(r, a, hash, &after, &nremove))
		return;

	if (!r->call->undoing)
		r->out->rollback_state = rotate_state_of(a, &before);
	nx_json_begin(&result);
	nx_json_str(&result, "username", a->username);
	nx_json_str(&result, "password", r->call->undoing ? "restored" : "rotated");
	nx_json_int(&result, "passwords_removed", nremove);
	/*
	 * An ACL SAVE that fails leaves the change made (the target takes only
	 * the new password): the call fails, but its result and evidence still
	 * say what was done and "persisted": false.
	 */
	saved = nxr_persist(r, &result);
	nx_json_begin(&evidence);
	nx_json_bool(&evidence, "login_with_new_password", true);
	nx_json_int(&evidence, "passwords_before", before.npasswords);
	nx_json_bool(&evidence, "nopass_before", before.nopass);
	nx_json_int(&evidence, "passwords_after", after.npasswords - nremove);
	r->out->result = nx_json_end(&result);
	r->out->evidence = nx_json_end(&evidence);
	r->out->ok = saved;
}

/* execute and rollback: rotate to new_secret's password, zeroed after. */
static void
rotate_to(NxRedis *r, const NxRedisArgs *a)
{
	char	   *volatile password =
		nxr_secret_password(r, r->call->new_secret,
							r->call->undoing ? "the previous password (new_secret)" : "new_secret",
							a->username);

	if (password == NULL)
		return;
	PG_TRY();
	{
		rotate_with(r, a, password);
	}
	PG_FINALLY();
	{
		nxr_secret_free(password);
	}
	PG_END_TRY();
}

/*
 * The proof, seen as a client would: the new password logs in, the old one
 * (when the engine passed it and it differs) no longer does, and the user
 * is not nopass (where any password logs in and proves nothing).
 */
static void
rotate_verify_with(NxRedis *r, const NxRedisArgs *a, const char *password, const char *old)
{
	NxRedisUser u;
	NxRedisLogin login;
	StringInfoData evidence;

	if (!nxr_get_user(r, a->username, &u))
		return;
	if (!u.exists)
	{
		nx_connector_fail(r->out, "the redis server has no user \"%s\"", a->username);
		return;
	}
	if (u.nopass)
	{
		nx_connector_fail(r->out, "user \"%s\" is nopass: any password logs in", a->username);
		return;
	}
	login = nxr_try_login(r->call, r->out, a->username, password);
	if (login == NXR_LOGIN_ERROR)
		return;
	if (login == NXR_LOGIN_REFUSED)
	{
		nx_connector_fail(r->out, "logging in as \"%s\" with %s failed", a->username,
						  r->call->undoing ? "the restored password" : "the new password");
		return;
	}
	nx_json_begin(&evidence);
	nx_json_str(&evidence, "username", a->username);
	nx_json_bool(&evidence, "login_with_new_password", true);
	if (old != NULL && old[0] != '\0' && strcmp(old, password) != 0)
	{
		login = nxr_try_login(r->call, r->out, a->username, old);
		if (login == NXR_LOGIN_ERROR)
			return;
		if (login == NXR_LOGIN_OK)
		{
			nx_connector_fail(r->out, "the old password of \"%s\" still logs in", a->username);
			return;
		}
		nx_json_bool(&evidence, "old_password_refused", true);
	}
	else
		nx_json_str(&evidence, "old_password_refused", NULL);
	nx_json_int(&evidence, "passwords", u.npasswords);
	r->out->evidence = nx_json_end(&evidence);
	r->out->ok = true;
}

static void
rotate_verify(NxRedis *r, const NxRedisArgs *a)
{
	char	   *volatile password =
		nxr_secret_password(r, r->call->new_secret,
							r->call->undoing ? "the previous password (new_secret)" : "new_secret",
							a->username);
	char	   *volatile old = NULL;

	if (password == NULL)
		return;
	PG_TRY();
	{
		old = nx_jsonb_get_cstring(r->call->old_secret, "password");
		rotate_verify_with(r, a, password, old);
	}
	PG_FINALLY();
	{
		nxr_secret_free(password);
		nxr_secret_free(old);
	}
	PG_END_TRY();
}

/*
 * The recovery's end of a rotation lost inside its overlap: the new
 * password was added and the old not yet removed, so both log in and the
 * vault (which keeps only one of them once the recovery has decided) would
 * not hold every password that works.  The engine finishes the rotation
 * rather than undoing it (docs/connectors/redis.md says why); this acts
 * only when the account is exactly in the overlap, both passwords logging
 * in as a client would, and otherwise fails having changed nothing.
 */
static void
rotate_finish_with(NxRedis *r, const NxRedisArgs *a, const char *password, const char *old)
{
	NxRedisUser before,
				after;
	NxRedisLogin login;
	char	   *hash;
	int			nremove;
	bool		saved;
	StringInfoData result,
				evidence;

	if (!nxr_get_user(r, a->username, &before))
		return;
	if (!before.exists)
	{
		nx_connector_fail(r->out, "the redis server has no user \"%s\"", a->username);
		return;
	}
	if (!before.on || before.nopass)
	{
		nx_connector_fail(r->out, "user \"%s\" is %s: not a rotation's overlap, nothing to finish",
						  a->username, before.on ? "nopass" : "off");
		return;
	}
	login = nxr_try_login(r->call, r->out, a->username, password);
	if (login == NXR_LOGIN_ERROR)
		return;
	if (login == NXR_LOGIN_REFUSED)
	{
		nx_connector_fail(r->out, "the %s password of \"%s\" does not log in: nothing to finish",
						  r->call->undoing ? "previous" : "new", a->username);
		return;
	}
	login = nxr_try_login(r->call, r->out, a->username, old);
	if (login == NXR_LOGIN_ERROR)
		return;
	if (login == NXR_LOGIN_REFUSED)
	{
		nx_connector_fail(r->out, "the %s password of \"%s\" no longer logs in: not a "
						  "rotation's overlap, nothing to finish",
						  r->call->undoing ? "current" : "old", a->username);
		return;
	}
	if (!nxr_step(r, 60, "removing the old password"))
		return;
	hash = nxr_password_hash(password);
	if (!remove_others(r, a, hash, &after, &nremove))
		return;

	nx_json_begin(&result);
	nx_json_str(&result, "username", a->username);
	nx_json_str(&result, "password", r->call->undoing ? "restored" : "rotated");
	nx_json_int(&result, "passwords_removed", nremove);
	saved = nxr_persist(r, &result);	/* as in rotate_with: said either way */
	nx_json_begin(&evidence);
	nx_json_bool(&evidence, "login_with_new_password", true);
	nx_json_bool(&evidence, "login_with_old_password", true);
	nx_json_int(&evidence, "passwords_before", after.npasswords);
	nx_json_int(&evidence, "passwords_after", after.npasswords - nremove);
	r->out->result = nx_json_end(&result);
	r->out->evidence = nx_json_end(&evidence);
	r->out->ok = saved;
}

/*
 * finish: new_secret is the password to keep, old_secret the one to
 * remove.  For a rotation they are the pending version and the current
 * one; for its rollback (undoing), lost inside its own overlap (the
 * previous password added back, the current one not yet removed), the
 * previous version and the current one, so that only the previous stays
 * and the engine can swap them in the vault.
 */
static void
rotate_finish(NxRedis *r, const NxRedisArgs *a)
{
	char	   *volatile password = NULL;
	char	   *volatile old = NULL;
	bool		undoing = r->call->undoing;

	password = nxr_secret_password(r, r->call->new_secret,
								   undoing ? "the previous password (new_secret)" : "new_secret",
								   a->username);
	if (password == NULL)
		return;
	PG_TRY();
	{
		old = nxr_secret_password(r, r->call->old_secret,
								  undoing ? "the current password (old_secret)" : "old_secret",
								  a->username);
		if (old != NULL && strcmp(old, password) == 0)
			nx_connector_fail(r->out, "new_secret and old_secret hold the same password");
		else if (old != NULL)
			rotate_finish_with(r, a, password, old);
	}
	PG_FINALLY();
	{
		nxr_secret_free(password);
		nxr_secret_free(old);
	}
	PG_END_TRY();
}

const NxRedisChange nxr_rotate_password = {
	.name = "rotate_password",
	.check = rotate_check,
	.execute = rotate_to,
	.verify = rotate_verify,
	.rollback = rotate_to,
	.rollback_state = rotate_state,
	.finish = rotate_finish,
	.rules = false,
};
