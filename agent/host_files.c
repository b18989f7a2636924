/*
 * host_files.c -- file.write on one of the agent's managed_files: the file
 * as it is (refused unless it is a regular file, not a symbolic link, under
 * a directory chain only root can write), its SHA-256 checked against the
 * approved one and its backup in STATE_DIR/backups made before it changes
 * (the dead-man undo; host.c restores it), then the new content written
 * atomically (a temporary file beside it, fsync, rename, fsync of the
 * directory) with the given or the old mode and the old owner.
 */
#include "host_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* previous_content goes in the report only while the report stays under the cap */
#define MAX_PREVIOUS_BYTES (20 * 1024)

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
int
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

json_t *
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

json_t *
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
