/*-------------------------------------------------------------------------
 *
 * mariadb_password.c
 *	  Passwords of the mariadb connector: the hashed form a statement
 *	  carries instead of the password, and the login that proves a
 *	  password works.
 *
 * A statement reaches the server's general log, slow log and binary log
 * as written, so no statement ever holds a password: ALTER USER ...
 * IDENTIFIED BY PASSWORD '*<hex>' takes mysql_native_password's stored
 * form, SHA1(SHA1(password)), which this file computes with OpenSSL.  That
 * form does not let anyone log in (the handshake needs SHA1(password)),
 * and the server never sees the password itself except as a scramble
 * when the account logs in.
 *
 *-------------------------------------------------------------------------
 */
#include "mariadb_internal.h"

#include <mysqld_error.h>
#include <openssl/evp.h>

/*
 * nxm_native_hash returns "*" and the 40 upper-case hex digits of
 * SHA1(SHA1(password)), as mysql_native_password keeps it.
 */
char *
nxm_native_hash(const char *password)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char once[EVP_MAX_MD_SIZE];
	unsigned char twice[EVP_MAX_MD_SIZE];
	unsigned int len1 = 0;
	unsigned int len2 = 0;
	char	   *out;

	if (!EVP_Digest(password, strlen(password), once, &len1, EVP_sha1(), NULL) ||
		!EVP_Digest(once, len1, twice, &len2, EVP_sha1(), NULL) || len2 != 20)
	{
		explicit_bzero(once, sizeof(once));
		nx_openssl_error("SHA-1 of a MariaDB password");
	}
	/* SHA1(password) is what logs in: it must not outlive this function */
	explicit_bzero(once, sizeof(once));
	out = palloc(42);
	out[0] = '*';
	for (unsigned int i = 0; i < len2; i++)
	{
		out[1 + 2 * i] = hex[twice[i] >> 4];
		out[2 + 2 * i] = hex[twice[i] & 0x0f];
	}
	out[41] = '\0';
	return out;
}

/*
 * nxm_login_proves logs in as account a with password and says whether
 * that proves the password is a's: the session must be a's own (not
 * another host's account of the same user), or the server must refuse it
 * only as locked, which MariaDB does after the password matched.  What
 * was seen is appended to evidence (", key: value" pairs).
 */
bool
nxm_login_proves(const NxConnectorCall *call, const NxmAccount *a, const char *password,
				 StringInfo evidence, NxConnectorResult *out)
{
	MYSQL	   *volatile db;
	unsigned int err_no;
	char	   *err_text;
	volatile bool ok = false;

	nxm_json_str(evidence, "login_as", a->user, true);
	db = nxm_open(call, a->user, password, false, &err_no, &err_text);
	if (db == NULL)
	{
		if (err_no == ER_ACCOUNT_HAS_BEEN_LOCKED)
		{
			appendStringInfoString(evidence, ", \"authenticated\": true, \"account_locked\": true");
			return true;
		}
		appendStringInfoString(evidence, ", \"authenticated\": false");
		nx_connector_fail(out, "could not log in to %s", err_text);
		return false;
	}
	PG_TRY();
	{
		NxmRows    *rows = nxm_query(db, "SELECT CURRENT_USER()", "read CURRENT_USER()", out);
		char	   *me = rows && rows->nrows == 1 ? NXM_VALUE(rows, 0, 0) : NULL;
		char	   *at = me ? strrchr(me, '@') : NULL;

		if (at != NULL)
		{
			nxm_json_str(evidence, "authenticated_as", me, true);
			*at = '\0';
			ok = strcmp(me, a->user) == 0 && (a->host == NULL || pg_strcasecmp(at + 1, a->host) == 0);
			*at = '@';
			if (!ok)
				nx_connector_fail(out, "the password logged in as %s, not as %s", me,
								  nxm_account_display(a));
		}
		else if (rows != NULL)
			nx_connector_fail(out, "the server did not say which account logged in");
	}
	PG_FINALLY();
	{
		mysql_close(db);
	}
	PG_END_TRY();
	appendStringInfo(evidence, ", \"authenticated\": %s", ok ? "true" : "false");
	return ok;
}
