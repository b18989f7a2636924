/*-------------------------------------------------------------------------
 *
 * redis_acl.c
 *	  The redis connector's view of ACL users: reading one (ACL GETUSER),
 *	  counting and ending its connections (CLIENT LIST, CLIENT KILL USER),
 *	  changing it (ACL SETUSER), and the rules for what a change may say:
 *	  user names, key patterns and command categories from an allowlist.
 *
 * Rules are checked here, before anything reaches the server, and each
 * goes to ACL SETUSER as an argument of its own, so a pattern cannot turn
 * into another rule.  A created user may get key patterns ("~pattern") and
 * the data categories below; it never gets @admin or @dangerous (every
 * rule list ends with -@admin -@dangerous), pub/sub channels, selectors or
 * a password (that comes from rotate_password, made by the engine).
 *
 *-------------------------------------------------------------------------
 */
#include "redis_client.h"

#define NXR_NAME_MAX 64
#define NXR_PATTERN_MAX 128
#define NXR_RULES_MAX 32

/* Command categories a change may name: grant (+@) only the grantable ones. */
static const struct
{
	const char *name;
	bool		grantable;
}			categories[] = {
	{"read", true}, {"write", true}, {"keyspace", true}, {"string", true},
	{"hash", true}, {"list", true}, {"set", true}, {"sortedset", true},
	{"stream", true}, {"bitmap", true}, {"hyperloglog", true}, {"geo", true},
	{"pubsub", true}, {"fast", true}, {"slow", true}, {"blocking", true},
	{"connection", true}, {"transaction", true}, {"scripting", true},
	{"admin", false}, {"dangerous", false}, {"all", false},
};

/* Copy a reply's text (status or bulk string); NULL for anything else. */
static char *
nxr_reply_text(const redisReply *e)
{
	if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS)
		return NULL;
	return pnstrdup(e->str, e->len);
}

/* Join an array reply's strings with spaces, each after prefix. */
static char *
nxr_reply_join(const redisReply *e, const char *prefix)
{
	StringInfoData b;

	if (e->type != REDIS_REPLY_ARRAY)
		return nxr_reply_text(e);
	initStringInfo(&b);
	for (size_t i = 0; i < e->elements; i++)
	{
		char	   *t = nxr_reply_text(e->element[i]);

		if (t)
			appendStringInfo(&b, "%s%s%s", b.len ? " " : "", prefix, t);
	}
	return b.data;
}

/*
 * nxr_get_user reads user name with ACL GETUSER (Redis 6.2 and 7 replies
 * both).  u->exists is false when there is no such user; false (out says
 * why) when the server could not be asked.
 */
bool
nxr_get_user(NxRedis *r, const char *name, NxRedisUser *u)
{
	const char *argv[] = {"ACL", "GETUSER", name};
	redisReply *reply = nxr_command(r, false, 3, argv);

	memset(u, 0, sizeof(*u));
	if (reply == NULL)
		return false;
	if (reply->type == REDIS_REPLY_NIL)
		return true;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0)
	{
		nx_connector_fail(r->out, "the redis server's answer to ACL GETUSER is not a list of fields");
		return false;
	}
	u->exists = true;
	u->flags = u->keys = u->channels = u->commands = "";
	for (size_t i = 0; i + 1 < reply->elements; i += 2)
	{
		char	   *field = nxr_reply_text(reply->element[i]);
		redisReply *v = reply->element[i + 1];

		if (field == NULL)
			continue;
		if (strcmp(field, "flags") == 0 && v->type == REDIS_REPLY_ARRAY)
		{
			u->flags = nxr_reply_join(v, "");
			for (size_t j = 0; j < v->elements; j++)
			{
				char	   *f = nxr_reply_text(v->element[j]);

				if (f && strcmp(f, "on") == 0)
					u->on = true;
				if (f && strcmp(f, "nopass") == 0)
					u->nopass = true;
			}
		}
		else if (strcmp(field, "passwords") == 0 && v->type == REDIS_REPLY_ARRAY)
		{
			u->npasswords = (int) v->elements;
			u->hashes = palloc0(sizeof(char *) * (v->elements + 1));
			for (size_t j = 0; j < v->elements; j++)
				u->hashes[j] = nxr_reply_text(v->element[j]);
		}
		else if (strcmp(field, "keys") == 0)
			u->keys = nxr_reply_join(v, "~");
		else if (strcmp(field, "channels") == 0)
			u->channels = nxr_reply_join(v, "&");
		else if (strcmp(field, "commands") == 0)
			u->commands = nxr_reply_join(v, "");
		else if (strcmp(field, "selectors") == 0 && v->type == REDIS_REPLY_ARRAY)
			u->nselectors = (int) v->elements;
	}
	if (u->keys == NULL)
		u->keys = "";
	if (u->channels == NULL)
		u->channels = "";
	if (u->commands == NULL)
		u->commands = "";
	return true;
}

/* nxr_client_list: CLIENT LIST's text, one line per connection. */
bool
nxr_client_list(NxRedis *r, char **list)
{
	const char *argv[] = {"CLIENT", "LIST"};
	redisReply *reply = nxr_command(r, false, 2, argv);

	*list = NULL;
	if (reply == NULL)
		return false;
	if (reply->type != REDIS_REPLY_STRING)
	{
		nx_connector_fail(r->out, "the redis server's answer to CLIENT LIST is not text");
		return false;
	}
	*list = pnstrdup(reply->str, reply->len);
	return true;
}

/*
 * nxr_clients_of counts the connections of list logged in as name: a
 * line's "user=" field is a whole token (Redis user names have no spaces).
 */
int
nxr_clients_of(const char *list, const char *name)
{
	char	   *want = psprintf("user=%s", name);
	char	   *copy = pstrdup(list),
			   *save = NULL;
	int			count = 0;

	for (char *tok = strtok_r(copy, " \r\n", &save); tok; tok = strtok_r(NULL, " \r\n", &save))
		if (strcmp(tok, want) == 0)
			count++;
	return count;
}

/* nxr_count_clients counts the connections logged in as name. */
bool
nxr_count_clients(NxRedis *r, const char *name, int *count)
{
	char	   *list;

	*count = 0;
	if (!nxr_client_list(r, &list))
		return false;
	*count = nxr_clients_of(list, name);
	return true;
}

/* nxr_kill_clients ends every connection logged in as name (never our own). */
bool
nxr_kill_clients(NxRedis *r, const char *name, int64 *killed)
{
	const char *argv[] = {"CLIENT", "KILL", "USER", name, "SKIPME", "yes"};
	redisReply *reply = nxr_command(r, false, 6, argv);

	*killed = 0;
	if (reply == NULL)
		return false;
	if (reply->type == REDIS_REPLY_INTEGER)
		*killed = reply->integer;
	return true;
}

/*
 * nxr_set_user runs ACL SETUSER name rule...; secret when a rule is a
 * password hash, so that no error quotes it.
 */
bool
nxr_set_user(NxRedis *r, const char *name, bool secret, int nrules, const char **rules)
{
	const char **argv = palloc(sizeof(char *) * (nrules + 3));

	argv[0] = "ACL";
	argv[1] = "SETUSER";
	argv[2] = name;
	memcpy(argv + 3, rules, sizeof(char *) * nrules);
	return nxr_command(r, secret, nrules + 3, argv) != NULL;
}

/*
 * nxr_check_username: NULL when name may be used, else why not.  Redis
 * takes any name without spaces; the connector takes fewer characters, so
 * that no name means anything to a shell, a log reader or a rule parser.
 */
const char *
nxr_check_username(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0)
		return "is empty";
	if (len > NXR_NAME_MAX)
		return "is longer than 64 characters";
	if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-") != len)
		return "may hold only letters, digits and the characters _ . : @ -";
	if (!isalnum((unsigned char) name[0]) && name[0] != '_')
		return "must start with a letter, a digit or _";
	return NULL;
}

/* Split s at spaces into at most NXR_RULES_MAX words; false when too many. */
static bool
nxr_words(const char *s, int *n, char ***words)
{
	char	   *copy = pstrdup(s),
			   *save = NULL;

	*n = 0;
	*words = palloc0(sizeof(char *) * (NXR_RULES_MAX + 1));
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
	{
		if (*n == NXR_RULES_MAX)
			return false;
		(*words)[(*n)++] = w;
	}
	return true;
}

/* Key patterns: glob characters, no escapes, no spaces; "*" alone means all. */
static const char *
nxr_read_keys(const char *s, NxRedisArgs *a)
{
	char	  **words;
	int			n;

	if (!nxr_words(s, &n, &words))
		return "key_patterns holds more than 32 patterns";
	a->keys = palloc0(sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		dup = false;

		if (strlen(words[i]) > NXR_PATTERN_MAX)
			return "a key pattern is longer than 128 characters";
		if (strspn(words[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				   "_-:./*?[]^{}|=,") != strlen(words[i]))
			return "a key pattern may hold only letters, digits and the characters _ - : . / * ? [ ] ^ { } | = ,";
		if (strcmp(words[i], "*") == 0)
		{
			/* all keys: Redis shows ~* alone */
			a->keys[0] = "*";
			a->nkeys = 1;
			return NULL;
		}
		for (int j = 0; j < a->nkeys; j++)
			dup = dup || strcmp(a->keys[j], words[i]) == 0;
		if (!dup)
			a->keys[a->nkeys++] = words[i];
	}
	return NULL;
}

/* Categories: "+@name" (grantable ones) or "-@name" (any known one). */
static const char *
nxr_read_categories(const char *s, NxRedisArgs *a)
{
	char	  **words;
	int			n;

	if (!nxr_words(s, &n, &words))
		return "categories holds more than 32 entries";
	a->categories = words;
	a->ncategories = n;
	for (int i = 0; i < n; i++)
	{
		const char *w = words[i];
		bool		known = false;

		if ((w[0] != '+' && w[0] != '-') || w[1] != '@')
			return "each category must be written +@name or -@name";
		for (size_t j = 0; j < lengthof(categories); j++)
			if (strcmp(w + 2, categories[j].name) == 0)
			{
				if (w[0] == '+' && !categories[j].grantable)
					return "categories may not grant @admin, @dangerous or @all";
				known = true;
			}
		if (!known)
			return "categories names an unknown command category";
	}
	return NULL;
}

/*
 * nxr_read_args reads a change's parameters: username always, key_patterns
 * and categories when rules.  false (out says why) when one is missing or
 * not allowed; the bad value itself is never quoted (it may be anything,
 * a pasted secret included).
 */
bool
nxr_read_args(const NxConnectorCall *call, NxConnectorResult *out, bool rules, NxRedisArgs *a)
{
	const char *why;
	char	   *s;

	memset(a, 0, sizeof(*a));
	a->username = nx_jsonb_get_cstring(call->params, "username");
	if (a->username == NULL)
	{
		nx_connector_fail(out, "the change needs a username (a string)");
		return false;
	}
	if ((why = nxr_check_username(a->username)) != NULL)
	{
		nx_connector_fail(out, "the username %s", why);
		return false;
	}
	if (!rules)
		return true;
	if ((s = nx_jsonb_get_cstring(call->params, "key_patterns")) != NULL &&
		(why = nxr_read_keys(s, a)) != NULL)
	{
		nx_connector_fail(out, "%s", why);
		return false;
	}
	if ((s = nx_jsonb_get_cstring(call->params, "categories")) != NULL &&
		(why = nxr_read_categories(s, a)) != NULL)
	{
		nx_connector_fail(out, "%s", why);
		return false;
	}
	return true;
}

/* nxr_password_hash: the lowercase hex SHA-256 Redis keeps for a password. */
char *
nxr_password_hash(const char *password)
{
	bytea	   *digest = nx_sha256(password, strlen(password));
	char	   *hex = palloc(2 * VARSIZE_ANY_EXHDR(digest) + 1);

	hex_encode(VARDATA_ANY(digest), VARSIZE_ANY_EXHDR(digest), hex);
	hex[2 * VARSIZE_ANY_EXHDR(digest)] = '\0';
	explicit_bzero(VARDATA_ANY(digest), VARSIZE_ANY_EXHDR(digest));
	pfree(digest);
	return hex;
}

/* nxr_joined: the items with spaces between, each after prefix ("~a* ~b"). */
char *
nxr_joined(int n, char **items, const char *prefix)
{
	StringInfoData b;

	initStringInfo(&b);
	for (int i = 0; i < n; i++)
		appendStringInfo(&b, "%s%s%s", i ? " " : "", prefix, items[i]);
	return b.data;
}
