/*
 * host_ssh.c -- ssh.authorized_key.add and .remove: the agent edits
 * ~user/.ssh/authorized_keys itself.  The home and ~/.ssh are opened
 * without following a symbolic link and must be the user's and writable
 * by no one else; the file is rewritten atomically (a temporary file in
 * ~/.ssh, fsync, rename), 0600 and the user's.  Keys are compared by type
 * and base64 alone, so a key with other options or comment is the same key.
 */
#include "host_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *nx_host_home_root = "";

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

void
ssh_close(SshFiles *f)
{
	if (f->ssh >= 0)
		close(f->ssh);
	if (f->home >= 0)
		close(f->home);
	free(f->content);
}

/* Open ~user/.ssh (made 0700 if missing) and read authorized_keys; NULL or an error. */
const char *
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

bool
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

json_t *
ssh_key(const NxCommand *c, bool add)
{
	const char *user = nx_param(c, "user");
	const char *err;
	int rc = ssh_edit(user, nx_param(c, "key"), add, &err);

	if (rc < 0)
		return report("failed", err);
	return succeeded(json_pack("{s:s, s:b}", "user", user, "changed", rc == 1));
}
