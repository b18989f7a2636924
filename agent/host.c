/*
 * host.c -- what each command of the table does on the host, and how a
 * dead-man command is undone.  Programs run through nx_exec (exec.c) with
 * fixed argument vectors; the parameters were checked against the table
 * (command.c) before anything here is called, so a user name cannot be an
 * option and a key cannot hold a newline.  Files the agent edits itself
 * (authorized_keys, managed files) are rewritten atomically and never
 * through a symbolic link.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

const char *nx_host_home_root = "";

#define USERMOD "/usr/sbin/usermod"
#define PKILL "/usr/bin/pkill"
#define CHPASSWD "/usr/sbin/chpasswd"
#define SYSTEMCTL "/usr/bin/systemctl"
/* the largest managed file the agent backs up and rewrites */
#define MAX_MANAGED_BYTES (16 * 1024 * 1024)
/* previous_content goes in the report only while the report stays under the cap */
#define MAX_PREVIOUS_BYTES (20 * 1024)

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

static json_t *
report(const char *state, const char *error)
{
	json_t *r = json_pack("{s:s}", "state", state);

	if (error != NULL)
		json_object_set_new(r, "error", json_string(error));
	return r;
}

static json_t *
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
static json_t *
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

static json_t *
user_must_exist(const char *user)
{
	if (getpwnam(user) == NULL)
		return report("failed", "no such user on this host");
	return NULL;
}

static json_t *
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

static json_t *
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
static json_t *
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

static json_t *
service(const NxCommand *c, const char *verb)
{
	const char *unit = nx_param(c, "unit");
	const char *argv[] = {SYSTEMCTL, verb, "--", unit, NULL};
	const char *show[] = {SYSTEMCTL, "show", "--no-pager",
						  "--property=ActiveState,SubState,LoadState,MainPID,"
						  "ActiveEnterTimestamp,UnitFileState",
						  "--", unit, NULL};
	NxExecResult x;
	json_t *fail, *out;
	char *save = NULL;

	if (strcmp(verb, "show") != 0 && (fail = run(argv, NULL, c->timeout_s, -1, NULL)) != NULL)
		return fail;
	if ((fail = run(show, NULL, c->timeout_s, -1, &x)) != NULL)
		return fail;
	out = json_pack("{s:s}", "unit", unit);
	for (char *l = strtok_r(x.output, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
	{
		char *eq = strchr(l, '=');

		if (eq != NULL)
		{
			*eq = '\0';
			json_object_set_new(out, l, nx_json_text(eq + 1, strlen(eq + 1)));
		}
	}
	nx_exec_free(&x);
	return succeeded(out);
}

/* ---- ssh.authorized_key.add / .remove ---- */

/* The type and base64 of a key line (options before them are skipped). */
static bool
key_id(const char *line, size_t len, const char **type, size_t *tlen, const char **b64,
	   size_t *blen)
{
	static const char *const types[] = {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256",
										"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
										"sk-ssh-ed25519@openssh.com",
										"sk-ecdsa-sha2-nistp256@openssh.com", NULL};
	size_t i = 0;

	while (i < len)
	{
		size_t start, end;

		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		end = i;
		for (int t = 0; types[t]; t++)
			if (end - start == strlen(types[t]) && memcmp(line + start, types[t], end - start) == 0)
			{
				size_t bs, be;

				while (i < len && (line[i] == ' ' || line[i] == '\t'))
					i++;
				bs = i;
				while (i < len && line[i] != ' ' && line[i] != '\t')
					i++;
				be = i;
				if (be == bs)
					return false;
				*type = line + start;
				*tlen = end - start;
				*b64 = line + bs;
				*blen = be - bs;
				return true;
			}
	}
	return false;
}

static bool
same_key(const char *line, size_t len, const char *key)
{
	const char *t1, *b1, *t2, *b2;
	size_t tl1, bl1, tl2, bl2;

	if (!key_id(line, len, &t1, &tl1, &b1, &bl1) || !key_id(key, strlen(key), &t2, &tl2, &b2, &bl2))
		return false;
	return tl1 == tl2 && bl1 == bl2 && memcmp(t1, t2, tl1) == 0 && memcmp(b1, b2, bl1) == 0;
}

typedef struct SshFiles {
	int home, ssh;
	uid_t uid;
	gid_t gid;
	char *content; /* current authorized_keys, NUL-terminated */
	size_t len;
} SshFiles;

static void
ssh_close(SshFiles *f)
{
	if (f->ssh >= 0)
		close(f->ssh);
	if (f->home >= 0)
		close(f->home);
	free(f->content);
}

/* Open ~user/.ssh (made 0700 if missing) and read authorized_keys; NULL or an error. */
static const char *
ssh_open(const char *user, SshFiles *f)
{
	struct passwd *pw = getpwnam(user);
	struct stat st;
	int fd;

	memset(f, 0, sizeof(*f));
	f->home = f->ssh = -1;
	if (pw == NULL)
		return "no such user on this host";
	f->uid = pw->pw_uid;
	f->gid = pw->pw_gid;
	if (pw->pw_dir[0] != '/' ||
		(nx_host_home_root[0] && strncmp(pw->pw_dir, nx_host_home_root, strlen(nx_host_home_root)) != 0))
		return "the user's home directory is not usable";
	f->home = open(pw->pw_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (f->home < 0)
		return "the user's home directory cannot be opened (a symbolic link is refused)";
	if (fstat(f->home, &st) != 0 || (st.st_uid != f->uid && st.st_uid != 0) ||
		(st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return "the user's home directory must be owned by the user and writable by no one else";
	if (mkdirat(f->home, ".ssh", 0700) == 0)
	{
		if (fchownat(f->home, ".ssh", f->uid, f->gid, AT_SYMLINK_NOFOLLOW) != 0)
			return "~/.ssh cannot be given to the user";
	}
	else if (errno != EEXIST)
		return "~/.ssh cannot be made";
	f->ssh = openat(f->home, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (f->ssh < 0)
		return "~/.ssh cannot be opened (a symbolic link is refused)";
	if (fstat(f->ssh, &st) != 0 || st.st_uid != f->uid)
		return "~/.ssh is not owned by the user";
	if ((st.st_mode & 07777) != 0700 && fchmod(f->ssh, 0700) != 0)
		return "~/.ssh cannot be made 0700";
	fd = openat(f->ssh, "authorized_keys", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return "authorized_keys cannot be opened (a symbolic link is refused)";
	if (fd >= 0)
	{
		char buf[8192];
		ssize_t n;

		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 4 * 1024 * 1024)
		{
			close(fd);
			return "authorized_keys is not a regular file of a sane size";
		}
		while ((n = read(fd, buf, sizeof(buf))) > 0)
		{
			char *grown = realloc(f->content, f->len + (size_t) n + 1);

			if (grown == NULL)
			{
				close(fd);
				return "out of memory";
			}
			f->content = grown;
			memcpy(f->content + f->len, buf, (size_t) n);
			f->len += (size_t) n;
		}
		close(fd);
		if (n < 0)
			return "authorized_keys cannot be read";
	}
	if (f->content == NULL)
		f->content = calloc(1, 1);
	else
		f->content[f->len] = '\0';
	return NULL;
}

static bool
ssh_has(const SshFiles *f, const char *key)
{
	const char *p = f->content;

	while (*p)
	{
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t) (nl - p) : strlen(p);

		if (same_key(p, len, key))
			return true;
		p += len + (nl ? 1 : 0);
	}
	return false;
}

/* authorized_keys := data, atomically, 0600 and the user's. */
static const char *
ssh_replace(SshFiles *f, const char *data, size_t len)
{
	const char *tmp = ".authorized_keys.nexplane";
	int fd;
	const char *p = data;
	size_t left = len;

	unlinkat(f->ssh, tmp, 0);
	fd = openat(f->ssh, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return "a new authorized_keys cannot be made";
	while (left > 0)
	{
		ssize_t n = write(fd, p, left);

		if (n <= 0)
		{
			close(fd);
			unlinkat(f->ssh, tmp, 0);
			return "authorized_keys cannot be written";
		}
		p += n;
		left -= (size_t) n;
	}
	if (fchown(fd, f->uid, f->gid) != 0 || fchmod(fd, 0600) != 0 || fsync(fd) != 0)
	{
		close(fd);
		unlinkat(f->ssh, tmp, 0);
		return "authorized_keys cannot be given to the user";
	}
	close(fd);
	if (renameat(f->ssh, tmp, f->ssh, "authorized_keys") != 0)
	{
		unlinkat(f->ssh, tmp, 0);
		return "authorized_keys cannot be replaced";
	}
	fsync(f->ssh);
	return NULL;
}

/* 1: changed, 0: nothing to do, -1: error in *err. */
static int
ssh_edit(const char *user, const char *key, bool add, const char **err)
{
	SshFiles f;
	int rc = 0;

	*err = ssh_open(user, &f);
	if (*err != NULL)
	{
		ssh_close(&f);
		return -1;
	}
	if (add && !ssh_has(&f, key))
	{
		size_t klen = strlen(key);
		char *next = malloc(f.len + klen + 3);
		size_t n = f.len;

		memcpy(next, f.content, f.len);
		if (n > 0 && next[n - 1] != '\n')
			next[n++] = '\n';
		memcpy(next + n, key, klen);
		n += klen;
		next[n++] = '\n';
		*err = ssh_replace(&f, next, n);
		free(next);
		rc = *err ? -1 : 1;
	}
	else if (!add && ssh_has(&f, key))
	{
		char *next = malloc(f.len + 1);
		size_t n = 0;
		const char *p = f.content;

		while (*p)
		{
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t) (nl - p) : strlen(p);

			if (!same_key(p, len, key))
			{
				memcpy(next + n, p, len);
				n += len;
				next[n++] = '\n';
			}
			p += len + (nl ? 1 : 0);
		}
		*err = ssh_replace(&f, next, n);
		free(next);
		rc = *err ? -1 : 1;
	}
	ssh_close(&f);
	return rc;
}

static json_t *
ssh_key(const NxCommand *c, bool add)
{
	const char *user = nx_param(c, "user");
	const char *err;
	int rc = ssh_edit(user, nx_param(c, "key"), add, &err);

	if (rc < 0)
		return report("failed", err);
	return succeeded(json_pack("{s:s, s:b}", "user", user, "changed", rc == 1));
}

/* ---- file.write ---- */

typedef struct Managed {
	bool existed;
	unsigned char *content;
	size_t len;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	char sha256[65];
} Managed;

/* NULL and the file's current state, or the state ("refused"/"failed") with an error. */
static const char *
managed_inspect(NxAgent *a, const char *path, Managed *m, char *err, size_t errlen)
{
	struct stat st;

	memset(m, 0, sizeof(*m));
	if (!nx_config_managed(&a->conf, path))
	{
		snprintf(err, errlen, "%s is not one of the agent's managed_files", path);
		return "refused";
	}
	if (nx_dir_chain_safe(path, err, errlen) != 0)
		return "refused";
	if (lstat(path, &st) != 0)
	{
		if (errno != ENOENT)
		{
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return "failed";
		}
		snprintf(m->sha256, sizeof(m->sha256), "absent");
		m->mode = 0644;
		return NULL;
	}
	if (!S_ISREG(st.st_mode))
	{
		snprintf(err, errlen, "%s is not a regular file (a symbolic link is refused)", path);
		return "refused";
	}
	if (nx_read_file(path, MAX_MANAGED_BYTES, &m->content, &m->len) != 0)
	{
		snprintf(err, errlen, "%s cannot be read: %s", path, strerror(errno));
		return "failed";
	}
	m->existed = true;
	m->mode = st.st_mode & 07777;
	m->uid = st.st_uid;
	m->gid = st.st_gid;
	nx_sha256_hex(m->content, m->len, m->sha256);
	return NULL;
}

/* Write data to path atomically with mode and owner (the directory is root's: see nx_dir_chain_safe). */
static int
managed_put(const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid)
{
	char tmp[4200];
	int fd;
	const char *p = data;
	char *slash;

	snprintf(tmp, sizeof(tmp), "%s", path);
	slash = strrchr(tmp, '/');
	snprintf(slash + 1, sizeof(tmp) - (size_t) (slash + 1 - tmp), ".%s.nexplane",
			 strrchr(path, '/') + 1);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (len > 0)
	{
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			goto fail;
		p += n;
		len -= (size_t) n;
	}
	if (fchown(fd, uid, gid) != 0 || fchmod(fd, mode) != 0 || fsync(fd) != 0)
		goto fail;
	close(fd);
	if (rename(tmp, path) != 0)
	{
		unlink(tmp);
		return -1;
	}
	*slash = '\0';
	return nx_fsync_dir(tmp[0] ? tmp : "/");
fail:
	close(fd);
	unlink(tmp);
	return -1;
}

static json_t *
file_undo(NxAgent *a, const NxCommand *c, char *err, size_t errlen, const char **state)
{
	const char *path = nx_param(c, "path");
	Managed m;
	char *backup;
	json_t *undo;

	*state = managed_inspect(a, path, &m, err, errlen);
	if (*state != NULL)
		return NULL;
	if (strcmp(m.sha256, nx_param(c, "expected_sha256")) != 0)
	{
		snprintf(err, errlen,
				 "%s changed since the change was approved: its SHA-256 is %s, not the expected one",
				 path, m.sha256);
		*state = "failed";
		free(m.content);
		return NULL;
	}
	backup = nx_state_path(a, "backups", c->id);
	if (m.existed && nx_write_durable(backup, m.content, m.len, 0600) != 0)
	{
		snprintf(err, errlen, "the backup of %s cannot be written", path);
		*state = "failed";
		free(m.content);
		free(backup);
		return NULL;
	}
	undo = json_pack("{s:s, s:s, s:b, s:s, s:i, s:i, s:i, s:s}", "kind", "file", "path", path,
					 "existed", m.existed, "backup", backup, "mode", (int) m.mode, "uid",
					 (int) m.uid, "gid", (int) m.gid, "previous_sha256", m.sha256);
	if (m.existed && m.len <= MAX_PREVIOUS_BYTES)
	{
		char *b64 = nx_base64_encode(m.content, m.len);

		json_object_set_new(undo, "previous_content", json_string(b64));
		free(b64);
	}
	free(m.content);
	free(backup);
	return undo;
}

static json_t *
file_write(NxAgent *a, const NxCommand *c, json_t *undo)
{
	const char *path = nx_param(c, "path");
	const char *mode_s = nx_param(c, "mode");
	json_t *own = NULL, *out;
	unsigned char *data;
	size_t len;
	char sha[65], prev_mode[8];
	mode_t mode;
	char err[512];

	if (undo == NULL)
	{
		const char *state;

		own = undo = file_undo(a, c, err, sizeof(err), &state);
		if (undo == NULL)
			return report(state, err);
	}
	data = nx_base64_decode(nx_param(c, "content"), &len);
	if (data == NULL || len > NX_AGENT_MAX_FILE_BYTES)
	{
		free(data);
		json_decref(own);
		return report("refused", "content is not base64 of at most 256 kB");
	}
	mode = mode_s ? (mode_t) strtol(mode_s, NULL, 8)
				  : (mode_t) json_integer_value(json_object_get(undo, "mode"));
	if (managed_put(path, data, len, mode,
					json_is_true(json_object_get(undo, "existed"))
						? (uid_t) json_integer_value(json_object_get(undo, "uid"))
						: 0,
					json_is_true(json_object_get(undo, "existed"))
						? (gid_t) json_integer_value(json_object_get(undo, "gid"))
						: 0) != 0)
	{
		free(data);
		json_decref(own);
		return report("failed", "the new content cannot be written");
	}
	nx_sha256_hex(data, len, sha);
	free(data);
	out = json_pack("{s:s, s:s, s:O, s:i}", "path", path, "sha256", sha, "previous_sha256",
					json_object_get(undo, "previous_sha256"), "bytes", (int) len);
	if (json_is_true(json_object_get(undo, "existed")))
	{
		json_t *prev = json_object_get(undo, "previous_content");

		snprintf(prev_mode, sizeof(prev_mode), "%04o",
				 (unsigned) json_integer_value(json_object_get(undo, "mode")));
		json_object_set_new(out, "previous_mode", json_string(prev_mode));
		if (prev != NULL)
			json_object_set(out, "previous_content", prev);
		else
			json_object_set_new(out, "previous_content_omitted",
								json_string("the previous content is larger than a report "
											"holds; the agent keeps it in its backups"));
	}
	else
		json_object_set_new(out, "previous_content", json_null());
	json_decref(own);
	return succeeded(out);
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
