/*
 * files.c -- checksums, base64 (OpenSSL's), and writing files so that a
 * crash leaves either the old or the new one: a temporary file in the same
 * directory, fsync, rename, fsync of the directory.  Also the check that
 * every directory above a managed file is root's and writable by no one
 * else, so nobody but root can swap a path component under the agent.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

void
nx_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

char *
nx_base64_encode(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out == NULL || len > (size_t) 1 << 28)
	{
		free(out);
		return NULL;
	}
	EVP_EncodeBlock((unsigned char *) out, data, (int) len);
	return out;
}

/* Strict: the command table already checked the alphabet and padding. */
unsigned char *
nx_base64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	unsigned char *out;
	int got;

	if (n % 4 != 0 || n > (size_t) 1 << 28)
		return NULL;
	out = malloc(n / 4 * 3 + 1);
	if (out == NULL)
		return NULL;
	got = EVP_DecodeBlock(out, (const unsigned char *) s, (int) n);
	if (got < 0)
	{
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (n >= 1 && s[n - 1] == '=')
		got--;
	if (n >= 2 && s[n - 2] == '=')
		got--;
	*len = (size_t) got;
	return out;
}

/* 0 and the content, or -1 with errno (EFBIG when larger than max). */
int
nx_read_file(const char *path, size_t max, unsigned char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	unsigned char *buf;
	size_t used = 0;
	struct stat st;

	*data = NULL;
	*len = 0;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		errno = EINVAL;
		return -1;
	}
	buf = malloc(max + 1);
	if (buf == NULL)
	{
		close(fd);
		return -1;
	}
	for (;;)
	{
		ssize_t n = read(fd, buf + used, max + 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		used += (size_t) n;
		if (used > max)
		{
			free(buf);
			close(fd);
			errno = EFBIG;
			return -1;
		}
	}
	close(fd);
	buf[used] = '\0';
	*data = buf;
	*len = used;
	return 0;
}

int
nx_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0)
	{
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

/* path is replaced atomically and durably by data, with mode. */
int
nx_write_durable(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4200];
	char dir[4200];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int) getpid()) >= (int) sizeof(tmp))
		return -1;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0)
	{
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0)
	{
		unlink(tmp);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	return nx_fsync_dir(dirname(dir));
}

int
nx_write_json(const char *path, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	int rc;

	if (text == NULL)
		return -1;
	rc = nx_write_durable(path, text, strlen(text), 0600);
	free(text);
	return rc;
}

json_t *
nx_read_json(const char *path)
{
	unsigned char *data;
	size_t len;
	json_t *obj;

	if (nx_read_file(path, 16 * 1024 * 1024, &data, &len) != 0)
		return NULL;
	obj = json_loadb((const char *) data, len, 0, NULL);
	free(data);
	return obj;
}

/* A directory of the state dir: made 0700 if missing, refused if anyone else may write it. */
int
nx_mkdir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	if (lstat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
	{
		errno = EPERM;
		return -1;
	}
	if ((st.st_mode & 077) != 0 && chmod(path, 0700) != 0)
		return -1;
	return 0;
}

/*
 * Every directory from / down to the one holding path: a real directory
 * (no symlink), owned by root, writable by neither group nor others.
 */
int
nx_dir_chain_safe(const char *path, char *err, size_t errlen)
{
	char buf[4200];
	size_t len = strlen(path);

	if (len >= sizeof(buf) || path[0] != '/')
	{
		snprintf(err, errlen, "not an absolute path");
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (size_t i = 0; i < len; i++)
	{
		struct stat st;
		char save;

		if (buf[i] != '/')
			continue;
		save = buf[i + 1];
		buf[i + 1] = '\0';
		if (i > 0)
			buf[i] = '\0';
		if (lstat(buf, &st) != 0)
		{
			snprintf(err, errlen, "directory %s: %s", buf, strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode))
		{
			snprintf(err, errlen, "%s is not a directory (a symbolic link is refused)", buf);
			return -1;
		}
		if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		{
			snprintf(err, errlen,
					 "directory %s must be owned by root and writable by no one else", buf);
			return -1;
		}
		buf[i] = '/';
		buf[i + 1] = save;
	}
	return 0;
}
