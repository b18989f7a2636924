/*-------------------------------------------------------------------------
 *
 * ldap_session.h
 *	  What the ldap connector's files share: one session with the
 *	  directory (a libldap handle and everything libldap allocated for it),
 *	  DN checks, and reading entries.
 *
 * An operation keeps everything libldap mallocs in its NxLdap, so that
 * nx_ldap_close(), run from PG_FINALLY by nx_ldap_run(), frees it on any
 * exit, an ERROR included.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_LDAP_SESSION_H
#define NX_LDAP_SESSION_H

#include "connector.h"

#include "lib/stringinfo.h"

#include <ldap.h>

/* The longest DN or URL the connector accepts, in bytes. */
#define NX_LDAP_MAX_DN		1024
#define NX_LDAP_MAX_URL		512

/* The value of pwdAccountLockedTime that ppolicy reads as "locked for good". */
#define NX_LDAP_LOCKED_FOREVER	"000001010000Z"

#define NX_LDAP_OID_PASSWD_MODIFY	"1.3.6.1.4.1.4203.1.11.1"
#define NX_LDAP_OID_PPOLICY			"1.3.6.1.4.1.42.2.27.8.5.1"

#define NX_LDAP_MAX_SECRETS	4

typedef struct NxLdap
{
	const NxConnectorCall *call;
	NxConnectorResult *out;
	int			timeout_ms;		/* the call's, when it began */

	/* the config, checked */
	char	   *url;
	char	   *base_dn;		/* normalized */
	bool		starttls;
	char	   *tls_ca;

	/* what libldap allocated; nx_ldap_close() frees all of it */
	LDAP	   *ld;
	LDAPMessage *res;			/* the last search's result */
	struct berval **vals;		/* values being copied out */
	LDAPControl *page_ctrl;		/* discover's paged results control */
	LDAPControl **res_ctrls;
	struct berval cookie;

	/*
	 * Every password the operation holds: no message from the directory
	 * that contains one is reported, and each is zeroed at close.
	 */
	char	   *secrets[NX_LDAP_MAX_SECRETS];
	int			nsecrets;
} NxLdap;

typedef void (*NxLdapOp) (NxLdap *s);

/* ldap_session.c: sessions */
extern void nx_ldap_run(const NxConnectorCall *call, NxConnectorResult *out, NxLdapOp op);
extern bool nx_ldap_connect(NxLdap *s, const char *bind_dn, const char *password);
extern bool nx_ldap_login(NxLdap *s);
extern char *nx_ldap_whoami(NxLdap *s);
extern void nx_ldap_close(NxLdap *s);
extern void nx_ldap_arm(NxLdap *s);
extern bool nx_ldap_step(NxLdap *s, int percent, const char *step);
extern void nx_ldap_fail_rc(NxLdap *s, int rc, const char *fmt,...) pg_attribute_printf(3, 4);
extern void nx_ldap_keep_secret(NxLdap *s, char *secret);

/* ldap_session.c: DNs, parameters and JSON */
extern char *nx_ldap_check_dn(NxLdap *s, const char *what, const char *dn, bool under_base);
extern char *nx_ldap_param_dn(NxLdap *s, Jsonb *jb, const char *from, const char *key);
extern bool nx_ldap_dn_equal(const char *a, const char *b);
extern char *nx_ldap_filter_value(const char *value);
extern void nx_ldap_json_str(StringInfo buf, const char *s);
extern Jsonb *nx_ldap_jsonb(StringInfo buf);

/* ldap_session.c: reading the directory */
extern int	nx_ldap_search(NxLdap *s, const char *base, int scope, const char *filter,
						   char **attrs, LDAPControl **sctrls);
extern bool nx_ldap_read(NxLdap *s, const char *what, const char *dn, const char *filter,
						 char **attrs, LDAPMessage **entry);
extern char **nx_ldap_values(NxLdap *s, LDAPMessage *entry, const char *attr, int *n);
extern char *nx_ldap_value(NxLdap *s, LDAPMessage *entry, const char *attr);
extern bool nx_ldap_has_value(NxLdap *s, LDAPMessage *entry, const char *attr, const char *v);
extern bool nx_ldap_root_has(NxLdap *s, const char *attr, const char *value, bool *has);
extern bool nx_ldap_modify(NxLdap *s, const char *what, const char *dn, int op,
						   const char *attr, const char *value, bool tolerate);

/* the change types, one file each */
extern void nx_ldap_password_pre_check(NxLdap *s);
extern void nx_ldap_password_execute(NxLdap *s);
extern void nx_ldap_password_verify(NxLdap *s);
extern void nx_ldap_password_rollback(NxLdap *s);
extern void nx_ldap_group_pre_check(NxLdap *s);
extern void nx_ldap_group_execute(NxLdap *s);
extern void nx_ldap_group_verify(NxLdap *s);
extern void nx_ldap_group_rollback(NxLdap *s);
extern void nx_ldap_lock_pre_check(NxLdap *s);
extern void nx_ldap_lock_execute(NxLdap *s);
extern void nx_ldap_lock_verify(NxLdap *s);
extern void nx_ldap_lock_rollback(NxLdap *s);

#endif							/* NX_LDAP_SESSION_H */
