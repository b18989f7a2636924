/*
 * host.c -- what each command of the table does on the host, and how a
 * dead-man command is undone: the dispatch by command name, the undo
 * decided before a command runs and applied when it is not confirmed, the
 * check after a change (sshd -t), facts.collect, and the report shapes and
 * program runner that the commands' own files share (host_internal.h):
 * host_users.c, host_service.c, host_ssh.c and host_files.c.  Programs run
 * through nx_exec (exec.c) with fixed argument vectors; the parameters were
 * checked against the table (command.c) before anything here is called, so
 * a user name cannot be an option and a key cannot hold a newline.
 */
#include "host_internal.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

json_t *
nx_json_text(const char *s, size_t len)
{
	char *copy = malloc(len + 1);
	json_t *j;

	if (copy == NULL)
		return json_null();
	for (size_t i = 0; i < len; i++)
	{
		unsigned char ch = (unsigned char) s[i];

		copy[i] = (ch == '\n' || ch == '\t' || (ch >= 0x20 && ch < 0x7f)) ? (char) ch : '?';
	}
	copy[len] = '\0';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *
report(const char *state, const char *error)
{
	json_t *r = json_pack("{s:s}", "state", state);

	if (error != NULL)
		json_object_set_new(r, "error", json_string(error));
	return r;
}

json_t *
succeeded(json_t *output)
{
	json_t *r = report("succeeded", NULL);

	json_object_set_new(r, "output", output ? output : json_object());
	return r;
}

/* A program's failure as a report: its exit code and the start of its output. */
static json_t *
exec_failed(const char *what, NxExecResult *x)
{
	char msg[512];
	json_t *r;
	size_t n = x->output_len;

	while (n > 0 && (x->output[n - 1] == '\n' || x->output[n - 1] == ' '))
		n--;
	if (x->timed_out)
		snprintf(msg, sizeof(msg), "%s did not finish in time and was killed", what);
	else
		snprintf(msg, sizeof(msg), "%s exited with %d: %.*s", what, x->exit_code,
				 (int) (n > 300 ? 300 : n), x->output);
	r = report("failed", NULL);
	json_object_set_new(r, "error", nx_json_text(msg, strlen(msg)));
	json_object_set_new(r, "exit_code", json_integer(x->exit_code));
	return r;
}

/* Run argv; NULL when it exited with one of the accepted codes, else a failed report. */
json_t *
run(const char *const argv[], const char *stdin_data, int timeout_s, int ok2, NxExecResult *keep)
{
	NxExecResult x;
	json_t *fail = NULL;

	if (nx_exec(argv, stdin_data, timeout_s, &x) != 0)
	{
		nx_exec_free(&x);
		return report("failed", "the program could not be started");
	}
	if (x.exit_code != 0 && (ok2 < 0 || x.exit_code != ok2))
		fail = exec_failed(strrchr(argv[0], '/') + 1, &x);
	if (keep != NULL && fail == NULL)
		*keep = x;
	else
		nx_exec_free(&x);
	return fail;
}

/* ---- facts.collect ---- */

static void
os_release(json_t *facts)
{
	unsigned char *data;
	size_t len;

	if (nx_read_file("/etc/os-release", 65536, &data, &len) != 0)
		return;
	for (char *l = strtok((char *) data, "\n"); l; l = strtok(NULL, "\n"))
		if (strncmp(l, "PRETTY_NAME=", 12) == 0)
		{
			char *v = l + 12;
			size_t n = strlen(v);

			if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
			{
				v[n - 1] = '\0';
				v++;
			}
			json_object_set_new(facts, "os", nx_json_text(v, strlen(v)));
		}
	free(data);
}

json_t *
nx_host_facts(void)
{
	json_t *facts = json_object();
	json_t *users = json_array();
	char host[256] = "";
	struct utsname u;
	struct sysinfo si;
	struct passwd *pw;

	gethostname(host, sizeof(host) - 1);
	json_object_set_new(facts, "hostname", nx_json_text(host, strlen(host)));
	if (uname(&u) == 0)
	{
		json_object_set_new(facts, "kernel", nx_json_text(u.release, strlen(u.release)));
		json_object_set_new(facts, "arch", nx_json_text(u.machine, strlen(u.machine)));
	}
	os_release(facts);
	if (sysinfo(&si) == 0)
		json_object_set_new(facts, "uptime_s", json_integer(si.uptime));
	setpwent();
	while ((pw = getpwent()) != NULL && json_array_size(users) < 200)
	{
		const char *sh = pw->pw_shell ? pw->pw_shell : "";

		if (sh[0] == '/' && strstr(sh, "nologin") == NULL && strcmp(sh, "/bin/false") != 0 &&
			strcmp(sh, "/usr/bin/false") != 0 && strcmp(sh, "/bin/sync") != 0)
			json_array_append_new(users, nx_json_text(pw->pw_name, strlen(pw->pw_name)));
	}
	endpwent();
	json_object_set_new(facts, "users", users);
	json_object_set_new(facts, "agent_version", json_string(NX_AGENT_VERSION));
	return facts;
}

/* ---- dispatch, undo and check ---- */

json_t *
nx_host_run(NxAgent *a, const NxCommand *c)
{
	return nx_host_run_with(a, c, NULL);
}

json_t *
nx_host_run_with(NxAgent *a, const NxCommand *c, json_t *undo)
{
	const char *n = c->def->name;

	if (strcmp(n, "user.lock") == 0)
		return user_lock(c);
	if (strcmp(n, "user.unlock") == 0)
		return user_unlock(c);
	if (strcmp(n, "user.set_password") == 0)
		return user_set_password(c);
	if (strcmp(n, "ssh.authorized_key.add") == 0)
		return ssh_key(c, true);
	if (strcmp(n, "ssh.authorized_key.remove") == 0)
		return ssh_key(c, false);
	if (strcmp(n, "service.restart") == 0)
		return service(c, "restart");
	if (strcmp(n, "service.reload") == 0)
		return service(c, "reload");
	if (strcmp(n, "service.status") == 0)
		return service(c, "show");
	if (strcmp(n, "file.write") == 0)
		return file_write(a, c, undo);
	if (strcmp(n, "facts.collect") == 0)
		return succeeded(nx_host_facts());
	return report("refused", "the agent has no implementation of this command");
}

/*
 * What undoes c, decided before c runs: the opposite command, or for
 * file.write the backup.  NULL with *state "refused"/"failed" and err when
 * c cannot run at all.
 */
json_t *
nx_host_prepare_undo(NxAgent *a, const NxCommand *c, char *err, size_t errlen, const char **state)
{
	const char *n = c->def->name;
	const char *user = nx_param(c, "user");

	*state = NULL;
	if (strcmp(n, "file.write") == 0)
		return file_undo(a, c, err, errlen, state);
	if (strcmp(n, "user.lock") == 0 || strcmp(n, "user.unlock") == 0)
	{
		if (getpwnam(user) == NULL)
		{
			snprintf(err, errlen, "no such user on this host");
			*state = "failed";
			return NULL;
		}
		return json_pack("{s:s, s:s, s:{s:s}}", "kind", "command", "command",
						 strcmp(n, "user.lock") == 0 ? "user.unlock" : "user.lock", "params",
						 "user", user);
	}
	if (strcmp(n, "ssh.authorized_key.add") == 0 || strcmp(n, "ssh.authorized_key.remove") == 0)
	{
		bool add = strcmp(n, "ssh.authorized_key.add") == 0;
		SshFiles f;
		const char *e = ssh_open(user, &f);
		bool had = e == NULL && ssh_has(&f, nx_param(c, "key"));

		ssh_close(&f);
		if (e != NULL)
		{
			snprintf(err, errlen, "%s", e);
			*state = "failed";
			return NULL;
		}
		/* adding a key already there, or removing one absent, changes nothing */
		if (add == had)
			return json_pack("{s:s}", "kind", "none");
		return json_pack("{s:s, s:s, s:{s:s, s:s}}", "kind", "command", "command",
						 add ? "ssh.authorized_key.remove" : "ssh.authorized_key.add", "params",
						 "user", user, "key", nx_param(c, "key"));
	}
	snprintf(err, errlen, "%s has no undo", n);
	*state = "refused";
	return NULL;
}

int
nx_host_undo(NxAgent *a, json_t *undo, char *err, size_t errlen)
{
	const char *kind = json_string_value(json_object_get(undo, "kind"));

	if (kind == NULL)
	{
		snprintf(err, errlen, "the pending revert is damaged");
		return -1;
	}
	if (strcmp(kind, "none") == 0)
		return 0;
	if (strcmp(kind, "file") == 0)
	{
		const char *path = json_string_value(json_object_get(undo, "path"));
		const char *backup = json_string_value(json_object_get(undo, "backup"));
		unsigned char *data;
		size_t len;
		int rc;

		if (path == NULL || backup == NULL || !nx_config_managed(&a->conf, path) ||
			nx_dir_chain_safe(path, err, errlen) != 0)
		{
			if (path == NULL || backup == NULL)
				snprintf(err, errlen, "the pending revert is damaged");
			else if (!nx_config_managed(&a->conf, path))
				snprintf(err, errlen, "%s is no longer a managed file", path);
			return -1;
		}
		if (!json_is_true(json_object_get(undo, "existed")))
		{
			if (unlink(path) != 0 && errno != ENOENT)
			{
				snprintf(err, errlen, "%s cannot be removed: %s", path, strerror(errno));
				return -1;
			}
			return 0;
		}
		if (nx_read_file(backup, MAX_MANAGED_BYTES, &data, &len) != 0)
		{
			snprintf(err, errlen, "the backup of %s cannot be read", path);
			return -1;
		}
		rc = managed_put(path, data, len, (mode_t) json_integer_value(json_object_get(undo, "mode")),
						 (uid_t) json_integer_value(json_object_get(undo, "uid")),
						 (gid_t) json_integer_value(json_object_get(undo, "gid")));
		free(data);
		if (rc != 0)
			snprintf(err, errlen, "%s cannot be restored", path);
		return rc;
	}
	if (strcmp(kind, "command") == 0)
	{
		json_t *obj = json_pack("{s:s, s:s, s:O}", "id", "00000000-0000-0000-0000-000000000000",
								"command", json_string_value(json_object_get(undo, "command")),
								"params", json_object_get(undo, "params"));
		NxCommand u;
		json_t *r;
		int rc;

		if (obj == NULL || nx_command_parse(obj, &u, err, errlen) != NX_PARSE_OK || !u.def->can_revert)
		{
			json_decref(obj);
			snprintf(err, errlen, "the pending revert is damaged");
			return -1;
		}
		json_decref(obj);
		r = nx_host_run(a, &u);
		rc = strcmp(json_string_value(json_object_get(r, "state")), "succeeded") == 0 ? 0 : -1;
		if (rc != 0)
			snprintf(err, errlen, "%s", json_string_value(json_object_get(r, "error")));
		json_decref(r);
		nx_command_free(&u);
		return rc;
	}
	snprintf(err, errlen, "the pending revert is damaged");
	return -1;
}

/* After a dead-man change: sshd_config must still parse (sshd -t). NULL when it passed. */
char *
nx_host_check(NxAgent *a, const NxCommand *c, char *what, size_t whatlen)
{
	const char *path = nx_param(c, "path");
	const char *base = path ? strrchr(path, '/') + 1 : NULL;

	if (strcmp(c->def->name, "file.write") == 0 && base != NULL && strcmp(base, "sshd_config") == 0)
	{
		const char *argv[] = {a->conf.sshd_path, "-t", "-f", path, NULL};
		NxExecResult x;
		char *fail = NULL;

		snprintf(what, whatlen, "sshd -t -f %s", path);
		if (nx_exec(argv, NULL, 30, &x) != 0 || x.exit_code != 0)
		{
			size_t n = x.output_len;

			while (n > 0 && x.output[n - 1] == '\n')
				n--;
			if (asprintf(&fail, "sshd -t failed: %.*s", (int) (n > 300 ? 300 : n),
						 x.output ? x.output : "") < 0)
				fail = NULL;
			if (fail == NULL)
				fail = strdup("sshd -t failed");
		}
		nx_exec_free(&x);
		return fail;
	}
	snprintf(what, whatlen, "%s succeeded", c->def->name);
	return NULL;
}
