/*-------------------------------------------------------------------------
 *
 * mariadb_client.c
 *	  The mariadb connector's client layer over libmariadb: connecting
 *	  within the call's deadline, running statements and copying their
 *	  rows out, quoting, and JSON for what the operations report.
 *
 * Every connection is TCP (a host of "localhost" would otherwise mean the
 * local socket), uses TLS when the server offers it (verified, and
 * required, with tls_ca), never reads option files, never loads local files for
 * the server (LOAD DATA LOCAL lets a hostile server read any file the
 * backend can), and has connect, read and write timeouts from the time
 * left before the deadline.  A server's error message may quote the
 * statement: statements that carry a password hash pass it as `redact`,
 * and a message quoting it is withheld.
 *
 *-------------------------------------------------------------------------
 */
#include "mariadb_internal.h"

#include "utils/json.h"

#define NXM_DEFAULT_PORT 3306

/*
 * The session of an admin connection: GRANT never creates an account that
 * does not exist (it would have no password), whatever the server's
 * default sql_mode says.
 */
#define NXM_ADMIN_INIT \
	"SET SESSION sql_mode = CONCAT_WS(',', @@sql_mode, 'NO_AUTO_CREATE_USER')"

/*
 * nxm_open connects as user with password to the config's host and port,
 * or returns NULL with the server's error number (0 when the connection
 * never got that far) and a message that names the target.
 */
MYSQL *
nxm_open(const NxConnectorCall *call, const char *user, const char *password, bool admin,
		 unsigned int *err_no, char **err_text)
{
	char	   *host = nx_jsonb_get_cstring(call->config, "host");
	char	   *tls_ca = nx_jsonb_get_cstring(call->config, "tls_ca");
	int64		port = NXM_DEFAULT_PORT;
	unsigned int timeout_s;
	unsigned int protocol = MYSQL_PROTOCOL_TCP;
	my_bool		off = 0;
	my_bool		on = 1;
	MYSQL	   *db;
	char		message[512];

	*err_no = 0;
	if (host == NULL || host[0] == '\0')
	{
		*err_text = pstrdup("the connector's config has no host");
		return NULL;
	}
	if (nx_jsonb_get_int64(call->config, "port", &port) && (port < 1 || port > 65535))
	{
		*err_text = psprintf("the connector's port %lld is not a TCP port", (long long) port);
		return NULL;
	}
	/* the library counts in seconds: round up, so a wait never ends early */
	timeout_s = (unsigned int) ((nx_connector_timeout_ms(call) + 999) / 1000);

	/* Nothing between mysql_init and mysql_close can raise an ERROR. */
	db = mysql_init(NULL);
	if (db == NULL)
	{
		*err_text = pstrdup("out of memory in the MariaDB client library");
		return NULL;
	}
	mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
	mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
	mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
	mysql_options(db, MYSQL_OPT_PROTOCOL, &protocol);
	mysql_options(db, MYSQL_OPT_LOCAL_INFILE, &off);
	mysql_options(db, MYSQL_OPT_RECONNECT, &off);
	mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/*
	 * TLS whenever the server offers it, even unverified: without it the
	 * statements' password hashes and a verify login's scramble cross the
	 * network readable, and together they let an eavesdropper log in.
	 * With tls_ca the certificate is verified, name included.
	 */
	mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &on);
	if (tls_ca != NULL && tls_ca[0] != '\0')
	{
		mysql_options(db, MYSQL_OPT_SSL_CA, tls_ca);
		mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
	}
	else
		mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
	if (admin)
		mysql_options(db, MYSQL_INIT_COMMAND, NXM_ADMIN_INIT);

	if (mysql_real_connect(db, host, user, password, NULL, (unsigned int) port, NULL, 0) == NULL)
	{
		*err_no = mysql_errno(db);
		strlcpy(message, mysql_error(db), sizeof(message));
		mysql_close(db);
		*err_text = psprintf("%s:%lld as %s: %s", host, (long long) port, user, message);
		return NULL;
	}
	/*
	 * libmariadb refuses a server without TLS once verification is on; a
	 * library that went on in clear must not get the statements either.
	 */
	if (tls_ca != NULL && tls_ca[0] != '\0' && mysql_get_ssl_cipher(db) == NULL)
	{
		mysql_close(db);
		*err_text = psprintf("%s:%lld as %s: the server did not use TLS, and tls_ca requires it",
							 host, (long long) port, user);
		return NULL;
	}
	return db;
}

/* nxm_connect_admin logs in with the connector's own credential. */
MYSQL *
nxm_connect_admin(const NxConnectorCall *call, NxConnectorResult *out)
{
	char	   *user = nx_jsonb_get_cstring(call->credential, "username");
	char	   *password = nx_jsonb_get_cstring(call->credential, "password");
	unsigned int err_no;
	char	   *err_text;
	MYSQL	   *db;

	if (user == NULL || user[0] == '\0' || password == NULL)
	{
		nx_connector_fail(out, "the connector's credential needs a username and a password");
		return NULL;
	}
	db = nxm_open(call, user, password, true, &err_no, &err_text);
	if (db == NULL)
		nx_connector_fail(out, "could not connect to %s", err_text);
	return db;
}

/* The server's message for the last error, unless it quotes redact. */
static char *
nxm_error(MYSQL *db, const char *redact)
{
	const char *message = mysql_error(db);

	if (redact != NULL && strstr(message, redact) != NULL)
		return psprintf("server error %u (SQLSTATE %s); its message is withheld because it "
						"quotes the statement", mysql_errno(db), mysql_sqlstate(db));
	return psprintf("%s (error %u)", message, mysql_errno(db));
}

/* nxm_exec runs one statement whose rows, if any, do not matter. */
bool
nxm_exec(MYSQL *db, const char *sql, const char *what, const char *redact, NxConnectorResult *out)
{
	MYSQL_RES  *res;

	if (mysql_real_query(db, sql, strlen(sql)) != 0)
	{
		nx_connector_fail(out, "could not %s: %s", what, nxm_error(db, redact));
		return false;
	}
	res = mysql_store_result(db);
	if (res != NULL)
		mysql_free_result(res);
	return true;
}

/*
 * nxm_query runs one query and copies its rows into palloc'd memory, so
 * the library's result is freed before anything else can fail.
 */
NxmRows *
nxm_query(MYSQL *db, const char *sql, const char *what, NxConnectorResult *out)
{
	MYSQL_RES  *volatile res;
	NxmRows    *rows = palloc0(sizeof(NxmRows));

	if (mysql_real_query(db, sql, strlen(sql)) != 0)
	{
		nx_connector_fail(out, "could not %s: %s", what, nxm_error(db, NULL));
		return NULL;
	}
	res = mysql_store_result(db);
	if (res == NULL)
	{
		if (mysql_field_count(db) != 0)
		{
			nx_connector_fail(out, "could not %s: %s", what, nxm_error(db, NULL));
			return NULL;
		}
		return rows;
	}
	PG_TRY();
	{
		MYSQL_ROW	row;
		int			r = 0;

		rows->nrows = (int) mysql_num_rows(res);
		rows->ncols = (int) mysql_num_fields(res);
		rows->values = palloc0(sizeof(char *) * Max(rows->nrows * rows->ncols, 1));
		while ((row = mysql_fetch_row(res)) != NULL && r < rows->nrows)
		{
			unsigned long *lengths = mysql_fetch_lengths(res);

			for (int c = 0; c < rows->ncols; c++)
				if (row[c] != NULL)
					NXM_VALUE(rows, r, c) = pnstrdup(row[c], lengths[c]);
			r++;
		}
	}
	PG_FINALLY();
	{
		mysql_free_result(res);
	}
	PG_END_TRY();
	return rows;
}

/* s as a string literal, escaped for the connection's character set and sql_mode. */
char *
nxm_literal(MYSQL *db, const char *s)
{
	size_t		len = strlen(s);
	char	   *buf = palloc(2 * len + 3);
	unsigned long n;

	buf[0] = '\'';
	n = mysql_real_escape_string(db, buf + 1, s, (unsigned long) len);
	if (n == (unsigned long) -1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not escape a string for MariaDB")));
	buf[1 + n] = '\'';
	buf[2 + n] = '\0';
	return buf;
}

/*
 * s as a quoted identifier.  The client library has no function for
 * identifiers; a backtick is doubled, which is the server's own rule (and
 * the validators let none through anyway).
 */
char *
nxm_ident(const char *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '`');
	for (const char *p = s; *p; p++)
	{
		if (*p == '`')
			appendStringInfoChar(&buf, '`');
		appendStringInfoChar(&buf, *p);
	}
	appendStringInfoChar(&buf, '`');
	return buf.data;
}

/* nxm_step reports progress; false (and the call failed) when the job was cancelled. */
bool
nxm_step(const NxConnectorCall *call, int percent, const char *what, NxConnectorResult *out)
{
	if (nx_connector_step(call, percent, what))
		return true;
	nx_connector_fail(out, "cancelled before: %s", what);
	return false;
}

Jsonb *
nxm_jsonb(StringInfo json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json->data)));
}

/* Append "key": "value" (null for NULL), after a comma unless first. */
void
nxm_json_str(StringInfo buf, const char *key, const char *value, bool comma)
{
	if (comma)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}
