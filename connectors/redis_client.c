/*-------------------------------------------------------------------------
 *
 * redis_client.c
 *	  The redis connector's connection to its server: connect and log in
 *	  (hiredis, blocking, every wait bounded by the call's deadline), send
 *	  commands as argument vectors, turn hiredis and server errors into
 *	  sentences without secrets, persist ACL changes, and build the JSON
 *	  objects the operations report.
 *
 * Commands always go as argument vectors (redisCommandArgv): nothing a
 * user gave is ever spliced into a command string.  The only plaintext
 * secret that travels is a password in AUTH (the connector's own login,
 * and the account's when a rotation is verified); ACL SETUSER gets
 * SHA-256 hashes.  AUTH is formatted and written here rather than by
 * hiredis so that every buffer that held the password is zeroed.
 *
 * Debian's hiredis is 0.14: no TLS and no redisOptions; redisConnect-
 * WithTimeout bounds the connect, redisSetTimeout (set again before every
 * command, to the time left) the reads and writes.
 *
 *-------------------------------------------------------------------------
 */
#include "redis_client.h"

#include "utils/json.h"

#include <errno.h>
#include <hiredis/sds.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#define NXR_DEFAULT_PORT 6379
#define NXR_HOST_MAX 255

NxRedis *
nxr_new(const NxConnectorCall *call, NxConnectorResult *out)
{
	NxRedis    *r = palloc0(sizeof(NxRedis));

	r->call = call;
	r->out = out;
	return r;
}

/* nxr_secret_free zeroes and frees a palloc'd copy of a secret. */
void
nxr_secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	pfree(s);
}

/* Where the server is, from the config; false (and out says why) if unusable. */
static bool
nxr_target(NxRedis *r)
{
	int64		port = NXR_DEFAULT_PORT;
	char	   *host = nx_jsonb_get_cstring(r->call->config, "host");

	if (host == NULL || host[0] == '\0')
	{
		nx_connector_fail(r->out, "the redis connector's config needs a host");
		return false;
	}
	if (strlen(host) > NXR_HOST_MAX || strspn(host, "abcdefghijklmnopqrstuvwxyz"
											  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:_[]")
		!= strlen(host))
	{
		nx_connector_fail(r->out, "the redis connector's host is not a valid host name or address");
		return false;
	}
	if (nx_jsonb_get_int64(r->call->config, "port", &port)
		? port < 1 || port > 65535
		: nx_jsonb_get_cstring(r->call->config, "port") != NULL)
	{
		nx_connector_fail(r->out, "the redis connector's port must be a number from 1 to 65535");
		return false;
	}
	r->host = host;
	r->port = (int) port;
	return true;
}

static struct timeval
nxr_time_left(const NxConnectorCall *call)
{
	int			ms = nx_connector_timeout_ms(call);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return tv;
}

/*
 * Say what went wrong with the connection itself.  hiredis reports a read
 * or write that ran into SO_RCVTIMEO/SO_SNDTIMEO as EAGAIN ("Resource
 * temporarily unavailable"): that is the deadline.
 */
static void
nxr_io_failed(NxRedis *r, const char *what)
{
	const char *why = r->ctx && r->ctx->errstr[0] ? r->ctx->errstr : "connection lost";

	if (r->ctx && r->ctx->err == REDIS_ERR_IO && strstr(why, "temporarily unavailable"))
		nx_connector_fail(r->out, "no answer from the redis server at %s:%d to %s within the timeout",
						  r->host, r->port, what);
	else
		nx_connector_fail(r->out, "the connection to the redis server at %s:%d failed during %s: %s",
						  r->host, r->port, what, why);
}

/* Connect with the time left as the connect timeout. */
static bool
nxr_connect(NxRedis *r)
{
	if (!nxr_target(r))
		return false;
	r->ctx = redisConnectWithTimeout(r->host, r->port, nxr_time_left(r->call));
	if (r->ctx == NULL)
	{
		nx_connector_fail(r->out, "could not connect to the redis server at %s:%d: out of memory",
						  r->host, r->port);
		return false;
	}
	if (r->ctx->err)
	{
		nx_connector_fail(r->out, "could not connect to the redis server at %s:%d: %s",
						  r->host, r->port, r->ctx->errstr);
		return false;
	}
	return true;
}

static bool
nxr_set_timeout(NxRedis *r, const char *what)
{
	if (redisSetTimeout(r->ctx, nxr_time_left(r->call)) != REDIS_OK)
	{
		nxr_io_failed(r, what);
		return false;
	}
	return true;
}

static void
nxr_forget_reply(NxRedis *r)
{
	if (r->reply)
		freeReplyObject(r->reply);
	r->reply = NULL;
}

/*
 * AUTH user password, sent by hand: the command is formatted into one
 * buffer, handed to hiredis's output buffer, written from there, and both
 * are zeroed (hiredis would free its copies with the password in them).
 */
static NxRedisLogin
nxr_auth(NxRedis *r, const char *user, const char *password)
{
	size_t		ulen = strlen(user),
				plen = strlen(password);
	size_t		cap = ulen + plen + 64;
	char	   *cmd = palloc(cap);
	int			len;
	size_t		done = 0;
	bool		sent = true;
	int			write_errno = 0;
	redisReply *reply = NULL;
	const char *code;

	len = snprintf(cmd, cap, "*3\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n$%zu\r\n", ulen, user, plen);
	memcpy(cmd + len, password, plen);
	memcpy(cmd + len + plen, "\r\n", 2);
	len += plen + 2;

	nxr_forget_reply(r);
	if (!nxr_set_timeout(r, "AUTH"))
	{
		explicit_bzero(cmd, cap);
		return NXR_LOGIN_ERROR;
	}
	if (redisAppendFormattedCommand(r->ctx, cmd, len) != REDIS_OK)
		sent = false;
	explicit_bzero(cmd, cap);
	pfree(cmd);
	while (sent && done < sdslen(r->ctx->obuf))
	{
		ssize_t		n = send(r->ctx->fd, r->ctx->obuf + done, sdslen(r->ctx->obuf) - done,
							 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			write_errno = n < 0 ? errno : 0;
			sent = false;
		}
		else
			done += n;
	}
	explicit_bzero(r->ctx->obuf, sdslen(r->ctx->obuf));
	sdsclear(r->ctx->obuf);
	if (!sent)
	{
		nx_connector_fail(r->out, "could not send AUTH to the redis server at %s:%d: %s",
						  r->host, r->port,
						  write_errno == EAGAIN || write_errno == EWOULDBLOCK ? "timed out" : "connection lost");
		return NXR_LOGIN_ERROR;
	}
	if (redisGetReply(r->ctx, (void **) &reply) != REDIS_OK || reply == NULL)
	{
		nxr_io_failed(r, "AUTH");
		return NXR_LOGIN_ERROR;
	}
	r->reply = reply;
	if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0)
		return NXR_LOGIN_OK;
	if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "WRONGPASS", 9) == 0)
		return NXR_LOGIN_REFUSED;
	/* anything else: only the error's code, in case a server echoes its input */
	code = reply->type == REDIS_REPLY_ERROR ? pnstrdup(reply->str, strcspn(reply->str, " ")) : "not OK";
	nx_connector_fail(r->out, "the redis server at %s:%d answered AUTH with an error (%.40s)",
					  r->host, r->port, code);
	return NXR_LOGIN_ERROR;
}

/*
 * Is this call a rotation of the connector's own login?  Then the
 * credential the engine passed may already be the one the rotation
 * replaced (verify runs before the new secret is promoted) or not yet the
 * one it restores (rollback), and nxr_open may log in with the rotation's
 * secrets instead.
 */
static bool
nxr_rotating_own_login(NxRedis *r)
{
	char	   *user;

	if (r->call->change_type == NULL || !r->call->change_type->rotates_secret)
		return false;
	user = nx_jsonb_get_cstring(r->call->params, "username");
	return user != NULL && strcmp(user, r->login) == 0;
}

/*
 * nxr_open connects and logs in as the connector's own user (its
 * credential; in a rotation of that very user, failing that, with
 * new_secret's and then old_secret's password); false, with out saying
 * why, when it cannot.
 */
bool
nxr_open(NxRedis *r)
{
	Jsonb	   *tries[3] = {r->call->credential, NULL, NULL};
	NxRedisLogin login = NXR_LOGIN_REFUSED;
	char	   *password = nx_jsonb_get_cstring(r->call->credential, "password");
	bool		has_password = password != NULL;

	nxr_secret_free(password);
	r->login = nx_jsonb_get_cstring(r->call->credential, "username");
	if (r->login == NULL || r->login[0] == '\0' || !has_password)
	{
		nx_connector_fail(r->out, "the redis connector's credential needs a username and a password");
		return false;
	}
	if (!nxr_connect(r))
		return false;
	if (nxr_rotating_own_login(r))
	{
		tries[1] = r->call->new_secret;
		tries[2] = r->call->old_secret;
	}
	for (size_t i = 0; i < lengthof(tries) && login == NXR_LOGIN_REFUSED; i++)
	{
		password = nx_jsonb_get_cstring(tries[i], "password");
		if (password == NULL)
			continue;
		login = nxr_auth(r, r->login, password);
		nxr_secret_free(password);
	}
	if (login == NXR_LOGIN_REFUSED)
		nx_connector_fail(r->out, "the redis server at %s:%d refused the connector's login: "
						  "wrong user name or password, or the user is off", r->host, r->port);
	return login == NXR_LOGIN_OK;
}

void
nxr_close(NxRedis *r)
{
	nxr_forget_reply(r);
	if (r->ctx)
		redisFree(r->ctx);
	r->ctx = NULL;
}

/*
 * nxr_try_login logs in as user with password on a connection of its own,
 * as a client of that account would: the proof that a password works (or
 * no longer does).  Only a connection failure fills out.
 */
NxRedisLogin
nxr_try_login(const NxConnectorCall *call, NxConnectorResult *out, const char *user,
			  const char *password)
{
	NxRedis    *r = nxr_new(call, out);
	volatile NxRedisLogin login = NXR_LOGIN_ERROR;

	PG_TRY();
	{
		if (nxr_connect(r))
			login = nxr_auth(r, user, password);
	}
	PG_FINALLY();
	{
		nxr_close(r);
	}
	PG_END_TRY();
	return login;
}

/* "ACL SETUSER", "CLIENT KILL", "ACL SAVE": what a command is called in messages. */
static char *
nxr_command_name(int argc, const char **argv)
{
	char	   *name;

	if (argc > 1 && (pg_strcasecmp(argv[0], "ACL") == 0 || pg_strcasecmp(argv[0], "CLIENT") == 0 ||
					 pg_strcasecmp(argv[0], "CONFIG") == 0))
		name = psprintf("%s %s", argv[0], argv[1]);
	else
		name = pstrdup(argv[0]);
	for (char *p = name; *p; p++)
		*p = pg_toupper((unsigned char) *p);
	return name;
}

/*
 * nxr_command_raw sends one command and returns its reply, an error reply
 * included; NULL (out says why) when the connection failed or the
 * deadline passed.  The reply lives until the next command.
 */
redisReply *
nxr_command_raw(NxRedis *r, int argc, const char **argv)
{
	size_t	   *lens = palloc(sizeof(size_t) * argc);

	nxr_forget_reply(r);
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (!nxr_set_timeout(r, nxr_command_name(argc, argv)))
		return NULL;
	r->reply = redisCommandArgv(r->ctx, argc, argv, lens);
	if (r->reply == NULL)
		nxr_io_failed(r, nxr_command_name(argc, argv));
	return r->reply;
}

/*
 * nxr_command is nxr_command_raw where an error reply is a failure too.
 * The server's message goes into the error unless the command carried a
 * secret (a password hash): Redis quotes the ACL rule it refused.
 */
redisReply *
nxr_command(NxRedis *r, bool secret, int argc, const char **argv)
{
	redisReply *reply = nxr_command_raw(r, argc, argv);

	if (reply == NULL || reply->type != REDIS_REPLY_ERROR)
		return reply;
	if (secret)
		nx_connector_fail(r->out, "the redis server refused %s (%.*s)", nxr_command_name(argc, argv),
						  (int) Min(strcspn(reply->str, " "), 40), reply->str);
	else
		nx_connector_fail(r->out, "the redis server refused %s: %.300s",
						  nxr_command_name(argc, argv), reply->str);
	return NULL;
}

/*
 * nxr_step reports progress before a change begins; false (the call
 * failed as cancelled) to stop.
 */
bool
nxr_step(NxRedis *r, int percent, const char *what)
{
	if (nx_connector_step(r->call, percent, what))
		return true;
	nx_connector_fail(r->out, "cancelled before %s", what);
	return false;
}

/*
 * nxr_progress reports progress once a change has begun: it is finished
 * whether or not the job was cancelled meanwhile, since stopping half way
 * (a user off with its connections still open, two passwords, a change
 * not saved) is worse than either end.
 */
void
nxr_progress(NxRedis *r, int percent, const char *what)
{
	(void) nx_connector_step(r->call, percent, what);
}

/*
 * nxr_json_bool_field: a boolean field of an object, -1 when it is absent
 * or not a boolean (nx_jsonb_get_bool cannot tell that from false).
 */
int
nxr_json_bool_field(Jsonb *jb, const char *key)
{
	JsonbValue	k = {.type = jbvString, .val.string = {.val = (char *) key, .len = strlen(key)}};
	JsonbValue *v;

	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return -1;
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvBool)
		return -1;
	return v->val.boolean ? 1 : 0;
}

/*
 * nxr_persist makes a change outlive a restart where the server keeps its
 * users in an ACL file: ACL SAVE when acl_save is true, or when it is not
 * set and CONFIG GET aclfile names a file.  Without one the users live in
 * memory (or in redis.conf, which the connector does not rewrite); the
 * result says so.  false (out says why) when ACL SAVE failed: the change
 * is made but not saved, and result says that too ("persisted": false, or
 * null when the server gave no answer, so nobody can tell), since a caller
 * whose change is in effect reports its result all the same.
 */
bool
nxr_persist(NxRedis *r, StringInfo result)
{
	int			setting = nxr_json_bool_field(r->call->config, "acl_save");
	const char *get[] = {"CONFIG", "GET", "aclfile"};
	const char *save[] = {"ACL", "SAVE"};
	redisReply *reply;

	nxr_progress(r, 90, "ACL SAVE");
	if (setting == 0)
	{
		nx_json_bool(result, "persisted", false);
		nx_json_str(result, "persistence", "acl_save is false: the change lasts until the server restarts");
		return true;
	}
	if (setting < 0)
	{
		if ((reply = nxr_command_raw(r, 3, get)) == NULL)
		{
			nx_json_bool(result, "persisted", false);
			nx_json_str(result, "persistence", "not saved: CONFIG GET aclfile got no answer");
			return false;
		}
		if (reply->type == REDIS_REPLY_ERROR)
		{
			nx_json_bool(result, "persisted", false);
			nx_json_str(result, "persistence", "unknown: CONFIG GET aclfile was refused; set acl_save");
			return true;
		}
		if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
			reply->element[1]->type != REDIS_REPLY_STRING || reply->element[1]->len == 0)
		{
			nx_json_bool(result, "persisted", false);
			nx_json_str(result, "persistence", "the server has no aclfile: the change lasts until it restarts");
			return true;
		}
	}
	if ((reply = nxr_command_raw(r, 2, save)) == NULL)
	{
		nx_json_str(result, "persisted", NULL);
		nx_json_str(result, "persistence", "unknown: ACL SAVE got no answer");
		return false;
	}
	if (reply->type == REDIS_REPLY_ERROR)
	{
		nx_json_bool(result, "persisted", false);
		nx_json_str(result, "persistence", "ACL SAVE failed: a restart would undo the change");
		nx_connector_fail(r->out, "the change is made but ACL SAVE failed, so a restart would undo it: %.300s",
						  reply->str);
		return false;
	}
	nx_json_bool(result, "persisted", true);
	nx_json_str(result, "persistence", "ACL SAVE");
	return true;
}

