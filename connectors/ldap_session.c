/*-------------------------------------------------------------------------
 *
 * ldap_session.c
 *	  One session of the ldap connector with its directory: the config
 *	  checked, a libldap handle with the call's deadline as its connect and
 *	  read timeouts (TLS verified when asked for), a simple bind, errors
 *	  that never carry a secret, DN checks and reads of entries.
 *
 * Everything libldap mallocs is held in the NxLdap and freed by
 * nx_ldap_close(), which nx_ldap_run() calls from PG_FINALLY.
 *
 *-------------------------------------------------------------------------
 */
#include "ldap_session.h"

#include "mb/pg_wchar.h"
#include "utils/json.h"

#include <string.h>

static bool nx_ldap_config(NxLdap *s);
static bool nx_ldap_dn_under(LDAPDN dn, LDAPDN base);

/*
 * Run one operation with a session: the config is checked first, and the
 * session is closed on any exit.
 */
void
nx_ldap_run(const NxConnectorCall *call, NxConnectorResult *out, NxLdapOp op)
{
	NxLdap	   *s = palloc0(sizeof(NxLdap));

	s->call = call;
	s->out = out;
	s->timeout_ms = nx_connector_timeout_ms(call);
	out->ok = false;
	PG_TRY();
	{
		if (nx_ldap_config(s))
			op(s);
	}
	PG_FINALLY();
	{
		nx_ldap_close(s);
	}
	PG_END_TRY();
}

static bool
nx_ldap_printable(const char *v)
{
	for (const unsigned char *p = (const unsigned char *) v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* Is the URL's host this machine's loopback (127.0.0.0/8, ::1, localhost)? */
static bool
nx_ldap_loopback(const char *host)
{
	return pg_strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
		(strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == strlen(host));
}

static bool
nx_ldap_config(NxLdap *s)
{
	Jsonb	   *config = s->call->config;
	char	   *base;
	LDAPURLDesc *lud = NULL;
	bool		loopback;
	bool		has_host;
	int			rc;

	s->url = nx_jsonb_get_cstring(config, "url");
	if (s->url == NULL || s->url[0] == '\0')
	{
		nx_connector_fail(s->out, "config.url is required (an ldap:// or ldaps:// URL)");
		return false;
	}
	if (strlen(s->url) > NX_LDAP_MAX_URL)
	{
		nx_connector_fail(s->out, "config.url is longer than %d bytes", NX_LDAP_MAX_URL);
		return false;
	}
	/* One URL (libldap would take a list), ldap or ldaps (never ldapi). */
	if (!nx_ldap_printable(s->url) || strpbrk(s->url, " \t,") != NULL ||
		(pg_strncasecmp(s->url, "ldap://", 7) != 0 && pg_strncasecmp(s->url, "ldaps://", 8) != 0))
	{
		nx_connector_fail(s->out, "config.url must be one ldap:// or ldaps:// URL");
		return false;
	}
	rc = ldap_url_parse(s->url, &lud);
	if (rc != LDAP_URL_SUCCESS || lud == NULL)
	{
		if (lud)
			ldap_free_urldesc(lud);
		nx_connector_fail(s->out, "config.url is not a valid LDAP URL");
		return false;
	}
	/* Without a host, libldap would take ldap.conf's URI: say which. */
	loopback = lud->lud_host != NULL && nx_ldap_loopback(lud->lud_host);
	has_host = lud->lud_host != NULL && lud->lud_host[0] != '\0';
	ldap_free_urldesc(lud);
	if (!has_host)
	{
		nx_connector_fail(s->out, "config.url must name the directory's host");
		return false;
	}

	base = nx_jsonb_get_cstring(config, "base_dn");
	s->base_dn = nx_ldap_check_dn(s, "config.base_dn", base, false);
	if (s->base_dn == NULL)
		return false;

	s->starttls = nx_jsonb_get_bool(config, "starttls");
	if (s->starttls && pg_strncasecmp(s->url, "ldaps://", 8) == 0)
	{
		nx_connector_fail(s->out,
						  "config.starttls is for ldap:// URLs; an ldaps:// URL is TLS already");
		return false;
	}
	/*
	 * Binds and password modify carry passwords: in clear only over
	 * loopback, else ldaps:// or StartTLS.
	 */
	if (!loopback && !s->starttls && pg_strncasecmp(s->url, "ldaps://", 8) != 0)
	{
		nx_connector_fail(s->out,
						  "config.url is ldap:// to a host that is not loopback: use ldaps:// or set starttls, so that no password crosses the network in clear");
		return false;
	}
	s->tls_ca = nx_jsonb_get_cstring(config, "tls_ca");
	if (s->tls_ca != NULL &&
		(s->tls_ca[0] != '/' || strlen(s->tls_ca) > 1024 || !nx_ldap_printable(s->tls_ca)))
	{
		nx_connector_fail(s->out, "config.tls_ca must be the absolute path of a PEM file");
		return false;
	}
	return true;
}

/* Remember a password: withheld from every message, zeroed at close. */
void
nx_ldap_keep_secret(NxLdap *s, char *secret)
{
	if (secret == NULL || secret[0] == '\0')
		return;
	for (int i = 0; i < s->nsecrets; i++)
		if (s->secrets[i] == secret)
			return;
	if (s->nsecrets < NX_LDAP_MAX_SECRETS)
		s->secrets[s->nsecrets++] = secret;
}

/*
 * The call's time left, as both timeouts libldap knows: connecting
 * (NETWORK_TIMEOUT) and waiting for each answer (TIMEOUT).  Set again
 * before every request, so that all of them end before the deadline.
 */
void
nx_ldap_arm(NxLdap *s)
{
	int			ms = nx_connector_timeout_ms(s->call);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (s->ld == NULL)
		return;
	ldap_set_option(s->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(s->ld, LDAP_OPT_TIMEOUT, &tv);
}

bool
nx_ldap_step(NxLdap *s, int percent, const char *step)
{
	if (nx_connector_step(s->call, percent, step))
		return true;
	nx_connector_fail(s->out, "cancelled");
	return false;
}

/*
 * Fail with what we were doing and why: for a server that cannot be
 * reached or did not answer in time, that; otherwise libldap's name for
 * the result code and the directory's diagnostic message, unless that
 * holds one of the operation's passwords (a password-quality module may
 * echo one).
 */
void
nx_ldap_fail_rc(NxLdap *s, int rc, const char *fmt,...)
{
	va_list		ap;
	char		what[512];
	char	   *diag = NULL;
	StringInfoData buf;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	initStringInfo(&buf);
	if (rc == LDAP_TIMEOUT)
	{
		nx_connector_fail(s->out,
						  "%s: the directory did not answer before the call's deadline (%d ms)",
						  what, s->timeout_ms);
		return;
	}
	if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR)
	{
		bool		tls = s->starttls || pg_strncasecmp(s->url, "ldaps://", 8) == 0;

		nx_connector_fail(s->out, "%s: cannot reach the directory at %s (%s)%s", what, s->url,
						  ldap_err2string(rc),
						  tls ?
						  "; with TLS, check that its certificate is signed by the CA of config.tls_ca and names the URL's host" :
						  "");
		return;
	}
	appendStringInfo(&buf, "%s: %s", what, ldap_err2string(rc));
	if (s->ld != NULL &&
		ldap_get_option(s->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS &&
		diag != NULL)
	{
		bool		safe = diag[0] != '\0' && strlen(diag) < 300 && nx_ldap_printable(diag);

		for (int i = 0; safe && i < s->nsecrets; i++)
			if (strstr(diag, s->secrets[i]) != NULL)
				safe = false;
		if (safe)
			appendStringInfo(&buf, " (%s)", diag);
		ldap_memfree(diag);
	}
	nx_connector_fail(s->out, "%s", buf.data);
}

/*
 * Open a handle on config.url and bind as bind_dn (a simple bind).  TLS,
 * when the URL or config.starttls asks for it, demands a certificate that
 * verifies, against config.tls_ca when given.
 */
bool
nx_ldap_connect(NxLdap *s, const char *bind_dn, const char *password)
{
	int			version = LDAP_VERSION3;
	int			rc;
	bool		tls = s->starttls || pg_strncasecmp(s->url, "ldaps://", 8) == 0;
	struct berval cred;

	if (s->ld != NULL)
	{
		ldap_unbind_ext_s(s->ld, NULL, NULL);
		s->ld = NULL;
	}
	/* An empty password makes an unauthenticated bind: anonymous. */
	if (password == NULL || password[0] == '\0')
	{
		nx_connector_fail(s->out, "no password for %s: an empty one would bind anonymously",
						  bind_dn);
		return false;
	}
	rc = ldap_initialize(&s->ld, s->url);
	if (rc != LDAP_SUCCESS)
	{
		s->ld = NULL;
		nx_ldap_fail_rc(s, rc, "cannot use config.url");
		return false;
	}
	ldap_set_option(s->ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	/* Referrals would send our bind to another server. */
	ldap_set_option(s->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	nx_ldap_arm(s);
	if (tls)
	{
		int			demand = LDAP_OPT_X_TLS_DEMAND;
		int			tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
		int			client = 0;

		ldap_set_option(s->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
		ldap_set_option(s->ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12);
		if (s->tls_ca != NULL)
			ldap_set_option(s->ld, LDAP_OPT_X_TLS_CACERTFILE, s->tls_ca);
		/* LDAP_OPT_ERROR is -1, like LDAP_SERVER_DOWN: say it here */
		if (ldap_set_option(s->ld, LDAP_OPT_X_TLS_NEWCTX, &client) != LDAP_OPT_SUCCESS)
		{
			nx_connector_fail(s->out, "cannot set up TLS%s",
							  s->tls_ca ?
							  ": is config.tls_ca a PEM file the server can read?" : "");
			return false;
		}
	}
	if (s->starttls)
	{
		rc = ldap_start_tls_s(s->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS)
		{
			nx_ldap_fail_rc(s, rc, "StartTLS with the directory failed");
			return false;
		}
	}
	nx_ldap_arm(s);
	cred.bv_val = (char *) password;
	cred.bv_len = strlen(password);
	rc = ldap_sasl_bind_s(s->ld, bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS)
	{
		/* libldap's own failures are negative, the server's answers not */
		nx_ldap_fail_rc(s, rc, rc > 0 ? "the directory refused the bind as %s" : "binding as %s",
						bind_dn);
		return false;
	}
	return true;
}

/* Connect as the connector's own login (the credential). */
bool
nx_ldap_login(NxLdap *s)
{
	char	   *dn = nx_jsonb_get_cstring(s->call->credential, "bind_dn");
	char	   *pw = nx_jsonb_get_cstring(s->call->credential, "password");

	nx_ldap_keep_secret(s, pw);
	dn = nx_ldap_check_dn(s, "credential.bind_dn", dn, false);
	if (dn == NULL)
		return false;
	if (pw == NULL)
	{
		nx_connector_fail(s->out, "credential.password is required");
		return false;
	}
	return nx_ldap_connect(s, dn, pw);
}

/*
 * Who are we bound as (RFC 4532)?  "dn:<dn>", "" for anonymous, NULL when
 * the server does not say (a policy may refuse it after a reset).
 */
char *
nx_ldap_whoami(NxLdap *s)
{
	struct berval *authzid = NULL;
	char	   *whoami = NULL;
	int			rc;

	nx_ldap_arm(s);
	rc = ldap_whoami_s(s->ld, &authzid, NULL, NULL);
	if (rc == LDAP_SUCCESS)
		whoami = authzid ? pnstrdup(authzid->bv_val, authzid->bv_len) : pstrdup("");
	if (authzid)
		ber_bvfree(authzid);
	return whoami;
}

void
nx_ldap_close(NxLdap *s)
{
	if (s->vals)
		ldap_value_free_len(s->vals);
	if (s->res)
		ldap_msgfree(s->res);
	if (s->page_ctrl)
		ldap_control_free(s->page_ctrl);
	if (s->res_ctrls)
		ldap_controls_free(s->res_ctrls);
	if (s->cookie.bv_val)
		ber_memfree(s->cookie.bv_val);
	if (s->ld)
		ldap_unbind_ext_s(s->ld, NULL, NULL);
	s->vals = NULL;
	s->res = NULL;
	s->page_ctrl = NULL;
	s->res_ctrls = NULL;
	s->cookie.bv_val = NULL;
	s->ld = NULL;
	for (int i = 0; i < s->nsecrets; i++)
		explicit_bzero(s->secrets[i], strlen(s->secrets[i]));
	s->nsecrets = 0;
}

/* Two RDNs are equal when their types and values are, ignoring case. */
static bool
nx_ldap_rdn_equal(LDAPRDN a, LDAPRDN b)
{
	int			i;

	for (i = 0; a[i] && b[i]; i++)
	{
		if (a[i]->la_attr.bv_len != b[i]->la_attr.bv_len ||
			a[i]->la_value.bv_len != b[i]->la_value.bv_len ||
			pg_strncasecmp(a[i]->la_attr.bv_val, b[i]->la_attr.bv_val, a[i]->la_attr.bv_len) != 0 ||
			pg_strncasecmp(a[i]->la_value.bv_val, b[i]->la_value.bv_val,
						   a[i]->la_value.bv_len) != 0)
			return false;
	}
	return a[i] == NULL && b[i] == NULL;
}

static int
nx_ldap_dn_length(LDAPDN dn)
{
	int			n = 0;

	while (dn && dn[n])
		n++;
	return n;
}

/* Is dn base or below it? */
static bool
nx_ldap_dn_under(LDAPDN dn, LDAPDN base)
{
	int			n = nx_ldap_dn_length(dn);
	int			b = nx_ldap_dn_length(base);

	if (n < b)
		return false;
	for (int i = 0; i < b; i++)
		if (!nx_ldap_rdn_equal(dn[n - b + i], base[i]))
			return false;
	return true;
}

static bool
nx_ldap_parse_dn(const char *dn, LDAPDN *out)
{
	*out = NULL;
	if (ldap_str2dn(dn, out, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
	{
		*out = NULL;
		return false;
	}
	if (*out == NULL)			/* the empty DN */
		return false;
	return true;
}

/*
 * Check a DN from config or params: present, not too long, printable
 * UTF-8, an LDAPv3 DN (ldap_str2dn), and under config.base_dn when asked.
 * Returns it in libldap's string form, or NULL having failed the call.
 * The DN itself is never echoed when it is not valid.
 */
char *
nx_ldap_check_dn(NxLdap *s, const char *what, const char *dn, bool under_base)
{
	LDAPDN		ldn;
	LDAPDN		lbase;
	char	   *str = NULL;
	char	   *norm;
	bool		under;

	if (dn == NULL || dn[0] == '\0')
	{
		nx_connector_fail(s->out, "%s is required (a DN)", what);
		return NULL;
	}
	if (strlen(dn) > NX_LDAP_MAX_DN)
	{
		nx_connector_fail(s->out, "%s is longer than %d bytes", what, NX_LDAP_MAX_DN);
		return NULL;
	}
	if (!nx_ldap_printable(dn) || !pg_verify_mbstr(PG_UTF8, dn, strlen(dn), true) ||
		!nx_ldap_parse_dn(dn, &ldn))
	{
		nx_connector_fail(s->out, "%s is not a valid DN", what);
		return NULL;
	}
	if (ldap_dn2str(ldn, &str, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || str == NULL)
	{
		ldap_dnfree(ldn);
		nx_connector_fail(s->out, "%s is not a valid DN", what);
		return NULL;
	}
	norm = pstrdup(str);
	ldap_memfree(str);
	if (!under_base)
	{
		ldap_dnfree(ldn);
		return norm;
	}
	if (!nx_ldap_parse_dn(s->base_dn, &lbase))
	{
		ldap_dnfree(ldn);
		nx_connector_fail(s->out, "config.base_dn is not a valid DN");
		return NULL;
	}
	under = nx_ldap_dn_under(ldn, lbase);
	ldap_dnfree(ldn);
	ldap_dnfree(lbase);
	if (!under)
	{
		nx_connector_fail(s->out, "%s (%s) is not under the connector's base DN (%s)", what, norm,
						  s->base_dn);
		return NULL;
	}
	return norm;
}

/* A DN parameter: jb's string field key, checked and under the base DN. */
char *
nx_ldap_param_dn(NxLdap *s, Jsonb *jb, const char *from, const char *key)
{
	char		what[128];

	snprintf(what, sizeof(what), "%s.%s", from, key);
	return nx_ldap_check_dn(s, what, nx_jsonb_get_cstring(jb, key), true);
}

bool
nx_ldap_dn_equal(const char *a, const char *b)
{
	LDAPDN		la;
	LDAPDN		lb;
	bool		eq;

	if (!nx_ldap_parse_dn(a, &la))
		return false;
	if (!nx_ldap_parse_dn(b, &lb))
	{
		ldap_dnfree(la);
		return false;
	}
	eq = nx_ldap_dn_length(la) == nx_ldap_dn_length(lb) && nx_ldap_dn_under(la, lb);
	ldap_dnfree(la);
	ldap_dnfree(lb);
	return eq;
}

/* value escaped for an assertion in a search filter (RFC 4515). */
char *
nx_ldap_filter_value(const char *value)
{
	struct berval in = {.bv_len = strlen(value), .bv_val = (char *) value};
	struct berval esc = {0};
	char	   *copy;

	if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
		elog(ERROR, "out of memory escaping an LDAP filter value");
	copy = pnstrdup(esc.bv_val, esc.bv_len);
	ber_memfree(esc.bv_val);
	return copy;
}

/* A JSON string, or null for a value that is not text in our encoding. */
void
nx_ldap_json_str(StringInfo buf, const char *v)
{
	if (v == NULL || !pg_verifymbstr(v, strlen(v), true))
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, v);
}

Jsonb *
nx_ldap_jsonb(StringInfo buf)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data)));
}

/*
 * A synchronous search with the call's time left as its limit; the result
 * stays in s->res (the previous one is freed).
 */
int
nx_ldap_search(NxLdap *s, const char *base, int scope, const char *filter, char **attrs,
			   LDAPControl **sctrls)
{
	int			ms = nx_connector_timeout_ms(s->call);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (s->res)
	{
		ldap_msgfree(s->res);
		s->res = NULL;
	}
	nx_ldap_arm(s);
	return ldap_search_ext_s(s->ld, base, scope, filter, attrs, 0, sctrls, NULL, &tv, 0, &s->res);
}

/*
 * Read one entry (a base search, with filter if given).  *entry is NULL
 * when it does not exist or the filter does not match it; false when the
 * read failed (the call has failed).
 */
bool
nx_ldap_read(NxLdap *s, const char *what, const char *dn, const char *filter, char **attrs,
			 LDAPMessage **entry)
{
	int			rc = nx_ldap_search(s, dn, LDAP_SCOPE_BASE, filter ? filter : "(objectClass=*)",
									attrs, NULL);

	*entry = NULL;
	if (rc == LDAP_NO_SUCH_OBJECT)
		return true;
	if (rc != LDAP_SUCCESS)
	{
		nx_ldap_fail_rc(s, rc, "reading %s %s", what, dn);
		return false;
	}
	*entry = ldap_first_entry(s->ld, s->res);
	return true;
}

/* An attribute's values, copied (NULL when there are none). */
char **
nx_ldap_values(NxLdap *s, LDAPMessage *entry, const char *attr, int *n)
{
	char	  **copy;
	int			count;

	*n = 0;
	s->vals = ldap_get_values_len(s->ld, entry, attr);
	if (s->vals == NULL)
		return NULL;
	count = ldap_count_values_len(s->vals);
	copy = palloc0(sizeof(char *) * (count + 1));
	for (int i = 0; i < count; i++)
		copy[i] = pnstrdup(s->vals[i]->bv_val, s->vals[i]->bv_len);
	ldap_value_free_len(s->vals);
	s->vals = NULL;
	*n = count;
	return copy;
}

char *
nx_ldap_value(NxLdap *s, LDAPMessage *entry, const char *attr)
{
	int			n;
	char	  **v = nx_ldap_values(s, entry, attr, &n);

	return n > 0 ? v[0] : NULL;
}

bool
nx_ldap_has_value(NxLdap *s, LDAPMessage *entry, const char *attr, const char *value)
{
	int			n;
	char	  **v = nx_ldap_values(s, entry, attr, &n);

	for (int i = 0; i < n; i++)
		if (pg_strcasecmp(v[i], value) == 0)
			return true;
	return false;
}

/* Does the root DSE list value in attr (a supported extension, control)? */
bool
nx_ldap_root_has(NxLdap *s, const char *attr, const char *value, bool *has)
{
	char	   *attrs[] = {(char *) attr, NULL};
	LDAPMessage *e;

	if (!nx_ldap_read(s, "the root DSE", "", NULL, attrs, &e))
		return false;
	*has = e != NULL && nx_ldap_has_value(s, e, attr, value);
	return true;
}

/*
 * Modify one attribute of dn: add, delete or replace one value (NULL
 * deletes all of them).  With tolerate, adding a value that is there and
 * deleting one that is not count as done, which keeps rollback idempotent.
 */
bool
nx_ldap_modify(NxLdap *s, const char *what, const char *dn, int op, const char *attr,
			   const char *value, bool tolerate)
{
	char	   *vals[] = {(char *) value, NULL};
	LDAPMod		mod = {.mod_op = op, .mod_type = (char *) attr,
	.mod_values = value ? vals : NULL};
	LDAPMod    *mods[] = {&mod, NULL};
	int			rc;

	nx_ldap_arm(s);
	rc = ldap_modify_ext_s(s->ld, dn, mods, NULL, NULL);
	if (rc == LDAP_SUCCESS)
		return true;
	if (tolerate && ((op == LDAP_MOD_ADD && rc == LDAP_TYPE_OR_VALUE_EXISTS) ||
					 (op == LDAP_MOD_DELETE && rc == LDAP_NO_SUCH_ATTRIBUTE)))
		return true;
	nx_ldap_fail_rc(s, rc, "%s", what);
	return false;
}
