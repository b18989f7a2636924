/*-------------------------------------------------------------------------
 *
 * ldap_lock.c
 *	  lock_account and unlock_account, by the ppolicy overlay's
 *	  pwdAccountLockedTime: the value 000001010000Z locks an account until
 *	  an administrator removes it; unlocking deletes the attribute.
 *
 * The lock is only as good as the account's password policy: ppolicy
 * refuses a locked account's binds only when the policy has pwdLockout
 * TRUE.  pre_check and verify check that the overlay runs (its control is
 * in the root DSE), and that the account's own policy (pwdPolicySubentry)
 * has pwdLockout TRUE when the account names one; the default policy is
 * in the server's configuration, out of the login's reach (see
 * docs/connectors/ldap.md).  Execute records the value before, which
 * rollback puts back (a lockout by failed binds included).
 *
 *-------------------------------------------------------------------------
 */
#include "ldap_session.h"

typedef struct NxLdapLock
{
	bool		lock;			/* lock_account, else unlock_account */
	char	   *dn;
	char	   *value;			/* pwdAccountLockedTime, NULL when absent */
	char	   *policy;			/* pwdPolicySubentry, NULL when the default */
} NxLdapLock;

/* Read pwdAccountLockedTime (and the account's policy) afresh. */
static bool
nx_ldap_lock_read(NxLdap *s, NxLdapLock *l)
{
	char	   *attrs[] = {"pwdAccountLockedTime", "pwdPolicySubentry", NULL};
	LDAPMessage *e;

	if (!nx_ldap_read(s, "account", l->dn, NULL, attrs, &e))
		return false;
	if (e == NULL)
	{
		nx_connector_fail(s->out, "account %s does not exist or this login cannot read it", l->dn);
		return false;
	}
	l->value = nx_ldap_value(s, e, "pwdAccountLockedTime");
	l->policy = nx_ldap_value(s, e, "pwdPolicySubentry");
	return true;
}

static bool
nx_ldap_lock_open(NxLdap *s, NxLdapLock *l, bool from_state)
{
	Jsonb	   *src = from_state ? s->call->rollback_state : s->call->params;

	l->lock = strcmp(s->call->change_type->name, "lock_account") == 0;
	l->dn = nx_ldap_param_dn(s, src, from_state ? "rollback_state" : "params", "account_dn");
	if (l->dn == NULL)
		return false;
	if (!nx_ldap_step(s, 10, "binding") || !nx_ldap_login(s))
		return false;
	if (!nx_ldap_step(s, 30, "reading the account"))
		return false;
	return nx_ldap_lock_read(s, l);
}

/*
 * Would a lock take effect?  The ppolicy overlay must run, and the
 * account's own policy, when it has one, must have pwdLockout TRUE.
 */
static bool
nx_ldap_lock_effective(NxLdap *s, NxLdapLock *l)
{
	char	   *attrs[] = {"pwdLockout", NULL};
	LDAPMessage *e;
	bool		has;
	char	   *lockout;

	if (!nx_ldap_root_has(s, "supportedControl", NX_LDAP_OID_PPOLICY, &has))
		return false;
	if (!has)
	{
		nx_connector_fail(s->out,
						  "the directory does not run the ppolicy overlay: a lock would have no effect");
		return false;
	}
	if (l->policy == NULL)
		return true;
	if (!nx_ldap_read(s, "password policy", l->policy, NULL, attrs, &e))
		return false;
	lockout = e ? nx_ldap_value(s, e, "pwdLockout") : NULL;
	if (lockout == NULL || pg_strcasecmp(lockout, "TRUE") != 0)
	{
		nx_connector_fail(s->out,
						  "the password policy of %s (%s) does not have pwdLockout TRUE: a lock would have no effect",
						  l->dn, l->policy);
		return false;
	}
	return true;
}

/* {"account_dn": dn, k1: v1[, k2: v2]<tail>}; values are strings or null */
static Jsonb *
nx_ldap_lock_json(NxLdapLock *l, const char *k1, const char *v1, const char *k2, const char *v2,
				  const char *tail)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"account_dn\": ");
	nx_ldap_json_str(&buf, l->dn);
	appendStringInfo(&buf, ", \"%s\": ", k1);
	nx_ldap_json_str(&buf, v1);
	if (k2)
	{
		appendStringInfo(&buf, ", \"%s\": ", k2);
		nx_ldap_json_str(&buf, v2);
	}
	appendStringInfo(&buf, "%s}", tail);
	return nx_ldap_jsonb(&buf);
}

/*
 * rollback_state's previous value: absent, or a GeneralizedTime as the
 * directory gave it (digits, then Z or an offset).
 */
static bool
nx_ldap_lock_previous(NxLdap *s, char **previous)
{
	char	   *v = nx_jsonb_get_cstring(s->call->rollback_state, "previous");

	*previous = v;
	if (v == NULL)
		return true;
	if (strlen(v) < 11 || strlen(v) > 32 || strspn(v, "0123456789.,Z+-") != strlen(v))
	{
		nx_connector_fail(s->out, "rollback_state.previous is not a GeneralizedTime");
		return false;
	}
	return true;
}

/*
 * pre_check: the account exists, is not in the state asked for, and a
 * lock would hold.  Its rollback state is execute's: the value before,
 * read here before the target is touched.
 */
void
nx_ldap_lock_pre_check(NxLdap *s)
{
	NxLdapLock	l = {0};

	if (!nx_ldap_lock_open(s, &l, false))
		return;
	if (l.lock && l.value != NULL && strcmp(l.value, NX_LDAP_LOCKED_FOREVER) == 0)
	{
		nx_connector_fail(s->out, "account %s is already locked", l.dn);
		return;
	}
	if (!l.lock && l.value == NULL)
	{
		nx_connector_fail(s->out, "account %s is not locked", l.dn);
		return;
	}
	if (l.lock && !nx_ldap_lock_effective(s, &l))
		return;
	s->out->result = nx_ldap_lock_json(&l, "pwdAccountLockedTime", l.value, NULL, NULL, "");
	s->out->rollback_state = nx_ldap_lock_json(&l, "previous", l.value, NULL, NULL, "");
	s->out->ok = true;
}

/* execute: set or delete pwdAccountLockedTime, keeping the value before. */
void
nx_ldap_lock_execute(NxLdap *s)
{
	NxLdapLock	l = {0};
	char	   *before;
	bool		change;

	if (!nx_ldap_lock_open(s, &l, false))
		return;
	before = l.value;
	change = l.lock ? before == NULL || strcmp(before, NX_LDAP_LOCKED_FOREVER) != 0 :
		before != NULL;
	if (!nx_ldap_step(s, 60, l.lock ? "locking" : "unlocking"))
		return;
	if (change &&
		!nx_ldap_modify(s, psprintf("%s %s", l.lock ? "locking" : "unlocking", l.dn), l.dn,
						l.lock ? LDAP_MOD_REPLACE : LDAP_MOD_DELETE, "pwdAccountLockedTime",
						l.lock ? NX_LDAP_LOCKED_FOREVER : NULL, false))
		return;
	if (!nx_ldap_lock_read(s, &l))
		return;
	s->out->rollback_state = nx_ldap_lock_json(&l, "previous", before, NULL, NULL, "");
	s->out->result = nx_ldap_lock_json(&l, "pwdAccountLockedTime", l.value, NULL, NULL,
									   psprintf(", \"locked\": %s, \"changed\": %s",
												l.value ? "true" : "false",
												change ? "true" : "false"));
	s->out->evidence = nx_ldap_lock_json(&l, "before", before, "after", l.value, "");
	s->out->ok = true;
}

/*
 * verify: locked for good after a lock, unlocked after an unlock; with
 * undoing, pwdAccountLockedTime is what it was before execute.
 */
void
nx_ldap_lock_verify(NxLdap *s)
{
	NxLdapLock	l = {0};
	bool		from_state = s->call->undoing && s->call->rollback_state != NULL;
	const char *want;
	bool		ok;

	char	   *previous = NULL;

	if (from_state && !nx_ldap_lock_previous(s, &previous))
		return;
	if (!nx_ldap_lock_open(s, &l, from_state))
		return;
	if (from_state)
		want = previous;
	else if (s->call->undoing)
		want = l.lock ? NULL : l.value;	/* without a state: any lock undoes an unlock */
	else
		want = l.lock ? NX_LDAP_LOCKED_FOREVER : NULL;
	ok = (want == NULL) == (l.value == NULL) && (want == NULL || strcmp(want, l.value) == 0);
	s->out->evidence = nx_ldap_lock_json(&l, "pwdAccountLockedTime", l.value, "expected", want, "");
	if (!ok)
	{
		nx_connector_fail(s->out, "account %s is %s", l.dn,
						  l.value == NULL ? "not locked" : want == NULL ? "still locked" :
						  "locked, but not as expected");
		return;
	}
	if (l.lock && !s->call->undoing && !nx_ldap_lock_effective(s, &l))
		return;
	s->out->ok = true;
}

/* rollback: put pwdAccountLockedTime back as it was. */
void
nx_ldap_lock_rollback(NxLdap *s)
{
	NxLdapLock	l = {0};
	char	   *previous;

	if (s->call->rollback_state == NULL)
	{
		nx_connector_fail(s->out, "rollback_state is required");
		return;
	}
	if (!nx_ldap_lock_previous(s, &previous) || !nx_ldap_lock_open(s, &l, true))
		return;
	if (!nx_ldap_step(s, 60, "restoring pwdAccountLockedTime"))
		return;
	if (!nx_ldap_modify(s, psprintf("restoring the lock state of %s", l.dn), l.dn,
						previous ? LDAP_MOD_REPLACE : LDAP_MOD_DELETE, "pwdAccountLockedTime",
						previous, true))
		return;
	if (!nx_ldap_lock_read(s, &l))
		return;
	s->out->result = nx_ldap_lock_json(&l, "pwdAccountLockedTime", l.value, NULL, NULL,
									   psprintf(", \"locked\": %s", l.value ? "true" : "false"));
	s->out->ok = true;
}
