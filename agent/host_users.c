/*
 * host_users.c -- user.lock, user.unlock and user.set_password: each one
 * or two fixed programs (usermod, pkill, chpasswd) run through run()
 * (host.c).  The user name was checked against the table before it gets
 * here, so it cannot be an option; the password hash goes on stdin.
 */
#include "host_internal.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>

#define USERMOD "/usr/sbin/usermod"
#define PKILL "/usr/bin/pkill"
#define CHPASSWD "/usr/sbin/chpasswd"

static json_t *
user_must_exist(const char *user)
{
	if (getpwnam(user) == NULL)
		return report("failed", "no such user on this host");
	return NULL;
}

json_t *
user_lock(const NxCommand *c)
{
	const char *user = nx_param(c, "user");
	const char *lock[] = {USERMOD, "-L", "-e", "1", "--", user, NULL};
	const char *kill[] = {PKILL, "-KILL", "-u", user, NULL};
	json_t *fail;

	if ((fail = user_must_exist(user)) != NULL)
		return fail;
	if ((fail = run(lock, NULL, c->timeout_s, -1, NULL)) != NULL)
		return fail;
	/* pkill exits 1 when the user had no process */
	if ((fail = run(kill, NULL, c->timeout_s, 1, NULL)) != NULL)
		return fail;
	return succeeded(json_pack("{s:s, s:b, s:b}", "user", user, "locked", 1, "sessions_ended", 1));
}

json_t *
user_unlock(const NxCommand *c)
{
	const char *user = nx_param(c, "user");
	const char *argv[] = {USERMOD, "-U", "-e", "", "--", user, NULL};
	json_t *fail;

	if ((fail = user_must_exist(user)) != NULL)
		return fail;
	if ((fail = run(argv, NULL, c->timeout_s, -1, NULL)) != NULL)
		return fail;
	return succeeded(json_pack("{s:s, s:b}", "user", user, "locked", 0));
}

/* The hash goes on chpasswd's stdin, never in argv (other users can read argv). */
json_t *
user_set_password(const NxCommand *c)
{
	const char *user = nx_param(c, "user");
	const char *argv[] = {CHPASSWD, "-e", NULL};
	char line[400];
	json_t *fail;

	if ((fail = user_must_exist(user)) != NULL)
		return fail;
	snprintf(line, sizeof(line), "%s:%s\n", user, nx_param(c, "hash"));
	fail = run(argv, line, c->timeout_s, -1, NULL);
	explicit_bzero(line, sizeof(line));
	if (fail != NULL)
	{
		/* chpasswd may echo the line: say only that it failed */
		json_object_set_new(fail, "error", json_string("chpasswd refused the hash"));
		return fail;
	}
	return succeeded(json_pack("{s:s}", "user", user));
}
