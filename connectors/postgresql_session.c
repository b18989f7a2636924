/*-------------------------------------------------------------------------
 *
 * postgresql_session.c
 *	  A session on the target server for one connector operation: connect
 *	  with libpq, run single statements with bound parameters, and give up
 *	  at the call's deadline.
 *
 * Everything waits with WaitLatchOrSocket on libpq's socket (the
 * non-blocking connect and query calls, as libpqwalreceiver and
 * postgres_fdw do), so a dead or silent target fails by the deadline, the
 * backend stays cancellable, and postmaster death ends the wait.  The
 * server is told the same limit as statement_timeout, so a statement we
 * stop waiting for does not run on after we hang up.
 *
 * The connection is made from keyword arrays (PQconnectStartParams with
 * expand_dbname off): no conninfo string is ever built from config, so a
 * database named "host=elsewhere" is only a database name.  The server
 * must ask for the password (PQconnectionUsedPassword, dblink's rule):
 * a target that lets the connector in on trust or peer, such as a socket
 * of the control plane's own server, is refused.  Errors report libpq's
 * primary message and SQLSTATE only, never the statement text.
 *
 *-------------------------------------------------------------------------
 */
#include "postgresql_int.h"

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include <ctype.h>
#include <limits.h>

#define NX_PG_HOST_MAX 255
#define NX_PG_NAME_MAX 63		/* NAMEDATALEN - 1 */
#define NX_PG_PATH_MAX 1024
#define NX_PG_PASSWORD_MAX 1024

/* Milliseconds left before the call's deadline, 0 when it has passed. */
int
nx_pg_ms_left(const NxConnectorCall *call)
{
	TimestampTz now = GetCurrentTimestamp();
	long		ms;

	if (call->deadline <= now)
		return 0;
	ms = TimestampDifferenceMilliseconds(now, call->deadline);
	return ms > INT_MAX ? INT_MAX : Max((int) ms, 1);
}

bool
nx_pg_step(NxPgSession *s, int percent, const char *step)
{
	if (nx_connector_step(s->call, percent, step))
		return true;
	nx_connector_fail(s->out, "cancelled");
	return false;
}

/* libpq's message on one line, without its trailing newline. */
static char *
nx_pg_oneline(const char *msg)
{
	char	   *s = pstrdup(msg ? msg : "");
	int			n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (char *c = s; *c; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	return n ? s : pstrdup("no reason given");
}

/* A host name or address: no socket paths, host lists or spaces. */
static bool
nx_pg_valid_host(const char *host)
{
	size_t		n = strlen(host);

	if (n == 0 || n > NX_PG_HOST_MAX || host[0] == '-')
		return false;
	for (const char *c = host; *c; c++)
		if (!(isalnum((unsigned char) *c) || *c == '.' || *c == '-' || *c == '_' || *c == ':'))
			return false;
	return true;
}

static bool
nx_pg_valid_sslmode(const char *mode)
{
	static const char *const modes[] = {
		"disable", "allow", "prefer", "require", "verify-ca", "verify-full",
	};

	for (size_t i = 0; i < lengthof(modes); i++)
		if (strcmp(mode, modes[i]) == 0)
			return true;
	return false;
}

/* A string field: absent is NULL; present but not a string is an error. */
static bool
nx_pg_config_str(NxConnectorResult *out, Jsonb *jb, const char *what, const char *key,
				 char **value)
{
	JsonbValue	k = {.type = jbvString};
	JsonbValue *v;

	*value = NULL;
	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return true;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	if (v == NULL || v->type == jbvNull)
		return true;
	if (v->type != jbvString)
	{
		nx_connector_fail(out, "%s field %s must be a string", what, key);
		return false;
	}
	*value = pnstrdup(v->val.string.val, v->val.string.len);
	return true;
}

/*
 * The libpq keywords and values for config and a login (the connector's
 * credential, or an account's new secret for a rotation's proof).  The
 * password is a palloc'd copy the caller wipes once libpq has its own.
 */
static bool
nx_pg_conn_params(const NxConnectorCall *call, NxConnectorResult *out, Jsonb *login,
				  const char **keys, const char **vals, char **password)
{
	char	   *host, *database, *sslmode, *sslrootcert, *user;
	int64		port = 5432;
	int			ms = nx_pg_ms_left(call);
	int			n = 0;

	if (call->config == NULL || !JB_ROOT_IS_OBJECT(call->config))
	{
		nx_connector_fail(out, "the connector has no config");
		return false;
	}
	if (!nx_pg_config_str(out, call->config, "config", "host", &host) ||
		!nx_pg_config_str(out, call->config, "config", "database", &database) ||
		!nx_pg_config_str(out, call->config, "config", "sslmode", &sslmode) ||
		!nx_pg_config_str(out, call->config, "config", "sslrootcert", &sslrootcert))
		return false;
	if (host == NULL || !nx_pg_valid_host(host))
	{
		nx_connector_fail(out, "config host must be a host name or address (at most %d letters,"
						  " digits, dots, dashes, underscores or colons; no socket paths or lists)",
						  NX_PG_HOST_MAX);
		return false;
	}
	if (nx_pg_field(call->config, "port") != NULL &&
		(!nx_pg_get_int(call->config, "port", &port) || port < 1 || port > 65535))
	{
		nx_connector_fail(out, "config port must be an integer from 1 to 65535");
		return false;
	}
	if (database != NULL && (database[0] == '\0' || strlen(database) > NX_PG_NAME_MAX))
	{
		nx_connector_fail(out, "config database must be 1 to %d bytes", NX_PG_NAME_MAX);
		return false;
	}
	if (sslmode != NULL && !nx_pg_valid_sslmode(sslmode))
	{
		nx_connector_fail(out, "config sslmode must be one of disable, allow, prefer, require,"
						  " verify-ca, verify-full");
		return false;
	}
	if (sslrootcert != NULL &&
		(sslrootcert[0] != '/' || strlen(sslrootcert) > NX_PG_PATH_MAX))
	{
		nx_connector_fail(out, "config sslrootcert must be an absolute path of at most %d bytes",
						  NX_PG_PATH_MAX);
		return false;
	}
	if (!nx_pg_config_str(out, login, "credential", "username", &user) ||
		!nx_pg_config_str(out, login, "credential", "password", password))
		return false;
	if (user == NULL || user[0] == '\0' || strlen(user) > NX_PG_NAME_MAX)
	{
		nx_connector_fail(out, "credential username must be 1 to %d bytes", NX_PG_NAME_MAX);
		return false;
	}
	/* an empty password would send libpq to a password file instead */
	if (*password == NULL || (*password)[0] == '\0' || strlen(*password) > NX_PG_PASSWORD_MAX)
	{
		nx_connector_fail(out, "credential password must be 1 to %d bytes", NX_PG_PASSWORD_MAX);
		return false;
	}

	keys[n] = "host", vals[n++] = host;
	keys[n] = "port", vals[n++] = psprintf("%d", (int) port);
	keys[n] = "dbname", vals[n++] = database ? database : "postgres";
	keys[n] = "user", vals[n++] = user;
	keys[n] = "password", vals[n++] = *password;
	if (sslmode)
		keys[n] = "sslmode", vals[n++] = sslmode;
	if (sslrootcert)
		keys[n] = "sslrootcert", vals[n++] = sslrootcert;
	/* libpq's own limit, for any blocking step it takes (2 s at least) */
	keys[n] = "connect_timeout", vals[n++] = psprintf("%d", Max((ms + 999) / 1000, 2));
	/* passwords only: no Kerberos tickets the server process might hold */
	keys[n] = "gssencmode", vals[n++] = "disable";
	keys[n] = "application_name", vals[n++] = "nexplane";
	keys[n] = "client_encoding", vals[n++] = "UTF8";
	keys[n] = "options", vals[n++] =
		psprintf("-c statement_timeout=%d -c lock_timeout=%d -c idle_in_transaction_session_timeout=%d",
				 Max(ms, 1), Max(ms, 1), Max(ms, 1));
	keys[n] = NULL, vals[n] = NULL;
	return true;
}

/*
 * Connect, waiting on the socket until the deadline.  Returns NULL (with
 * out filled in) on failure; on an ERROR (a cancel) the handle is closed.
 */
static PGconn *
nx_pg_connect(const NxConnectorCall *call, NxConnectorResult *out, const char *const *keys,
			  const char *const *vals)
{
	const char *host = vals[0], *port = vals[1], *user = vals[3];
	PGconn	   *conn = PQconnectStartParams(keys, vals, 0);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	bool		timed_out = false;

	if (conn == NULL)
	{
		nx_connector_fail(out, "could not connect to %s port %s: out of memory", host, port);
		return NULL;
	}
	PG_TRY();
	{
		if (PQstatus(conn) == CONNECTION_BAD)
			st = PGRES_POLLING_FAILED;
		while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
		{
			int			io = st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
			int			ms = nx_pg_ms_left(call);
			int			rc;

			if (ms == 0)
			{
				timed_out = true;
				break;
			}
			rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | io,
								   PQsocket(conn), ms, PG_WAIT_EXTENSION);
			if (rc & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
			if (rc & io)
				st = PQconnectPoll(conn);
		}
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (timed_out)
		nx_connector_fail(out, "could not connect to %s port %s: no answer within the time"
						  " allowed (timed out)", host, port);
	else if (st != PGRES_POLLING_OK || PQstatus(conn) != CONNECTION_OK)
		nx_connector_fail(out, "could not connect to %s port %s as %s: %s", host, port, user,
						  nx_pg_oneline(PQerrorMessage(conn)));
	else if (!PQconnectionUsedPassword(conn))
		nx_connector_fail(out, "the server at %s port %s let %s in without asking for its"
						  " password; the connector only uses servers that check it", host,
						  port, user);
	else
		return conn;
	PQfinish(conn);
	return NULL;
}

/*
 * nx_pg_run connects as login and runs body in the session, closing the
 * connection however body ends.  Returns out->ok.
 */
bool
nx_pg_run(const NxConnectorCall *call, NxConnectorResult *out, Jsonb *login, NxPgBody body,
		  const NxPgParams *p)
{
	const char *keys[16], *vals[16];
	char	   *password = NULL;
	NxPgSession s = {.call = call, .out = out};
	bool		ok;

	ok = nx_pg_conn_params(call, out, login, keys, vals, &password);
	if (ok)
		s.conn = nx_pg_connect(call, out, keys, vals);
	/* libpq keeps (and wipes) its own copy */
	if (password)
		explicit_bzero(password, strlen(password));
	if (s.conn == NULL)
		return false;
	s.login = vals[3];

	PG_TRY();
	{
		out->ok = true;
		body(&s, p);
	}
	PG_FINALLY();
	{
		PQfinish(s.conn);
	}
	PG_END_TRY();
	return out->ok;
}

/*
 * Wait until libpq has a whole result (or the deadline passes).  False,
 * with out filled in, when the time is up or the connection is lost.
 */
static bool
nx_pg_await(NxPgSession *s, const char *what)
{
	while (PQisBusy(s->conn))
	{
		int			ms = nx_pg_ms_left(s->call);
		int			rc;

		if (ms == 0)
		{
			nx_connector_fail(s->out, "%s: no answer from the target within the time allowed"
							  " (timed out)", what);
			return false;
		}
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | WL_SOCKET_READABLE,
							   PQsocket(s->conn), ms, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(s->conn))
		{
			nx_connector_fail(s->out, "%s: lost the connection to the target: %s", what,
							  nx_pg_oneline(PQerrorMessage(s->conn)));
			return false;
		}
	}
	return true;
}

static NxPgRows *
nx_pg_rows(PGresult *res)
{
	NxPgRows   *rows = palloc(sizeof(NxPgRows));

	rows->ntuples = PQntuples(res);
	rows->nfields = PQnfields(res);
	rows->values = palloc0(sizeof(char *) * Max(rows->ntuples * rows->nfields, 1));
	for (int r = 0; r < rows->ntuples; r++)
		for (int c = 0; c < rows->nfields; c++)
			if (!PQgetisnull(res, r, c))
				NX_PG_VALUE(rows, r, c) = pstrdup(PQgetvalue(res, r, c));
	return rows;
}

/*
 * nx_pg_exec runs one statement (the extended protocol: never two) with
 * its values bound, and returns its rows, or NULL with out filled in.
 * what names the step for the error ("reading the role").
 */
NxPgRows *
nx_pg_exec(NxPgSession *s, const char *what, const char *sql, int nparams,
		   const char *const *values)
{
	PGresult   *volatile last = NULL;
	NxPgRows   *volatile rows = NULL;

	if (!PQsendQueryParams(s->conn, sql, nparams, NULL, values, NULL, NULL, 0))
	{
		nx_connector_fail(s->out, "%s: could not send the statement: %s", what,
						  nx_pg_oneline(PQerrorMessage(s->conn)));
		return NULL;
	}
	PG_TRY();
	{
		for (;;)
		{
			PGresult   *res;

			if (!nx_pg_await(s, what))
			{
				PQclear(last);
				last = NULL;
				break;
			}
			res = PQgetResult(s->conn);
			if (res == NULL)
				break;
			PQclear(last);
			last = res;
		}
		if (last == NULL)
		{
			if (s->out->ok)
				nx_connector_fail(s->out, "%s: the target sent no result", what);
		}
		else if (PQresultStatus(last) == PGRES_TUPLES_OK ||
				 PQresultStatus(last) == PGRES_COMMAND_OK)
			rows = nx_pg_rows(last);
		else
		{
			const char *msg = PQresultErrorField(last, PG_DIAG_MESSAGE_PRIMARY);
			const char *state = PQresultErrorField(last, PG_DIAG_SQLSTATE);

			nx_connector_fail(s->out, "%s failed on the target: %s (SQLSTATE %s)", what,
							  msg ? msg : nx_pg_oneline(PQerrorMessage(s->conn)),
							  state ? state : "unknown");
		}
	}
	PG_FINALLY();
	{
		PQclear(last);
	}
	PG_END_TRY();
	return rows;
}

/*
 * value quoted by libpq as an identifier or a literal, copied into
 * palloc'd memory; libpq's buffer is wiped before it is freed (a literal
 * may be a password's verifier).  NULL with out filled in on failure.
 */
static char *
nx_pg_quote(NxPgSession *s, const char *value, bool ident)
{
	size_t		n = strlen(value);
	char	   *q = ident ? PQescapeIdentifier(s->conn, value, n) : PQescapeLiteral(s->conn, value, n);
	char	   *copy;

	if (q == NULL)
	{
		nx_connector_fail(s->out, "could not quote a %s: %s", ident ? "name" : "value",
						  nx_pg_oneline(PQerrorMessage(s->conn)));
		return NULL;
	}
	copy = pstrdup(q);
	explicit_bzero(q, strlen(q));
	PQfreemem(q);
	return copy;
}

char *
nx_pg_ident(NxPgSession *s, const char *name)
{
	return nx_pg_quote(s, name, true);
}

char *
nx_pg_literal(NxPgSession *s, const char *value)
{
	return nx_pg_quote(s, value, false);
}
