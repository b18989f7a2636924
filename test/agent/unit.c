/*
 * unit.c -- the agent's own tests, built with AddressSanitizer and
 * UndefinedBehaviorSanitizer (agent/Makefile: agent-unit-asan) and run as
 * root by test/e2e/agent_unit.sh.  They use real parts of the host, not
 * mocks: a throwaway account (made here with useradd, removed at the end),
 * the real usermod, chpasswd, pkill and sshd -t, files under a root-owned
 * directory in /run.  The agent is offline throughout (no shim), so every
 * report stays in its state directory, where the tests read it.
 * Prints one "ok - ..." or "not ok - ..." line per check.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;
static char root[256];	 /* /run/nxagent-unit.PID: root's, 0755 */
static char user[32];	 /* the throwaway account */
static NxAgent agent;

#define KEY1 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJxwEJvKAV5k6Mz3rawWd1mdehi1y6n9Rk8Ny5/05ivV k1@test"
#define KEY2 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMjq+fdHoBWN52y6pu0sa2/9Cs7aVNvcUVI14uWwcGJb k2@test"
#define ID(n) "00000000-0000-4000-8000-0000000000" #n

static void
check(const char *what, bool ok)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	fflush(stdout);
	if (!ok)
		failures++;
}

static int
sh(const char *const argv[])
{
	NxExecResult x;
	int rc;

	if (nx_exec(argv, NULL, 60, &x) != 0)
		return -1;
	rc = x.exit_code;
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", argv[0], x.output);
	nx_exec_free(&x);
	return rc;
}

/* Parse a command given as JSON text (fails the test when it is not as expected). */
static NxParse
parse(const char *text, NxCommand *c, char *err)
{
	return nx_command_parse_text(text, strlen(text), c, err, 512);
}

static char *
cmd_json(const char *id, const char *command, json_t *params, int confirm)
{
	json_t *o = json_pack("{s:s, s:s, s:o}", "id", id, "command", command, "params", params);
	char *s;

	if (confirm > 0)
		json_object_set_new(o, "confirm_within_s", json_integer(confirm));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Run a command through the agent's own path (nx_handle_command); false when it did not parse. */
static bool
handle(const char *id, const char *command, json_t *params, int confirm)
{
	char *text = cmd_json(id, command, params, confirm);
	NxCommand c;
	char err[512];
	bool ok = parse(text, &c, err) == NX_PARSE_OK;

	free(text);
	if (ok)
		nx_handle_command(&agent, &c);
	else
		fprintf(stderr, "parse: %s\n", err);
	nx_command_free(&c);
	return ok;
}

/* The reports stored for command id. */
static json_t *
reports(const char *id)
{
	char name[64];
	char *p;
	json_t *d, *r;

	snprintf(name, sizeof(name), "%s.json", id);
	p = nx_state_path(&agent, "done", name);
	d = nx_read_json(p);
	free(p);
	r = json_incref(json_object_get(d, "reports"));
	json_decref(d);
	return r;
}

static const char *
last_state(json_t *rs)
{
	return json_string_value(json_object_get(json_array_get(rs, json_array_size(rs) - 1), "state"));
}

static bool
state_is(const char *id, const char *state)
{
	json_t *rs = reports(id);
	bool ok = rs != NULL && last_state(rs) != NULL && strcmp(last_state(rs), state) == 0;

	if (!ok)
	{
		char *d = json_dumps(rs, JSON_COMPACT);

		fprintf(stderr, "%s: expected %s, got %s\n", id, state, d ? d : "nothing");
		free(d);
	}
	json_decref(rs);
	return ok;
}

static bool
file_is(const char *path, const char *content)
{
	unsigned char *data;
	size_t len;
	bool ok;

	if (nx_read_file(path, 1 << 20, &data, &len) != 0)
		return content == NULL;
	ok = content != NULL && len == strlen(content) && memcmp(data, content, len) == 0;
	free(data);
	return ok;
}

static void
put(const char *path, const char *content, mode_t mode)
{
	if (nx_write_durable(path, content, strlen(content), mode) != 0)
		fprintf(stderr, "cannot write %s\n", path);
}

static char *
b64(const char *s)
{
	return nx_base64_encode(s, strlen(s));
}

static json_t *
write_params(const char *path, const char *content, const char *expected, const char *mode)
{
	char *c = b64(content);
	json_t *p = json_pack("{s:s, s:s, s:s}", "path", path, "content", c, "expected_sha256", expected);

	if (mode != NULL)
		json_object_set_new(p, "mode", json_string(mode));
	free(c);
	return p;
}

static void
sha_of(const char *s, char out[65])
{
	nx_sha256_hex(s, strlen(s), out);
}

static void
test_parser(void)
{
	NxCommand c;
	char err[512];

	check("parser: a valid user.lock is accepted with the table's timeout",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"user.lock\",\"params\":{\"user\":\"alice\"}}",
				&c, err) == NX_PARSE_OK &&
			  c.timeout_s == 60 && strcmp(nx_param(&c, "user"), "alice") == 0);
	nx_command_free(&c);
	check("parser: a command outside the allowlist is refused (and names it)",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"shell.run\",\"params\":{}}", &c, err) ==
				  NX_PARSE_REFUSED &&
			  strstr(err, "shell.run") != NULL);
	nx_command_free(&c);
	check("parser: an unknown parameter is refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"user.lock\",\"params\":{\"user\":\"a\","
				"\"shell\":\"x\"}}",
				&c, err) == NX_PARSE_REFUSED &&
			  strstr(err, "shell") != NULL);
	nx_command_free(&c);
	check("parser: a user name that could be an option is refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"user.lock\",\"params\":{\"user\":\"-rf\"}}",
				&c, err) == NX_PARSE_REFUSED);
	nx_command_free(&c);
	check("parser: a missing required parameter is refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"ssh.authorized_key.add\",\"params\":"
				"{\"user\":\"alice\"}}",
				&c, err) == NX_PARSE_REFUSED &&
			  strstr(err, "key") != NULL);
	nx_command_free(&c);
	check("parser: a parameter of the wrong type is refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"user.lock\",\"params\":{\"user\":7}}", &c,
				err) == NX_PARSE_REFUSED);
	nx_command_free(&c);
	check("parser: a key with a newline (a second line) is refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"ssh.authorized_key.add\",\"params\":"
				"{\"user\":\"a\",\"key\":\"" KEY1 "\\ncommand=\\\"sh\\\" " KEY2 "\"}}",
				&c, err) == NX_PARSE_REFUSED);
	nx_command_free(&c);
	check("parser: a path with .. is refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"file.write\",\"params\":{\"path\":"
				"\"/etc/../etc/shadow\",\"content\":\"eA==\",\"expected_sha256\":\"absent\"}}",
				&c, err) == NX_PARSE_REFUSED);
	nx_command_free(&c);
	check("parser: a timeout over 300 s is refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"facts.collect\",\"timeout_s\":301}", &c,
				err) == NX_PARSE_REFUSED);
	nx_command_free(&c);
	check("parser: confirm_within on a command without an undo is refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"service.restart\",\"params\":{\"unit\":"
				"\"ssh.service\"},\"confirm_within_s\":60}",
				&c, err) == NX_PARSE_REFUSED);
	nx_command_free(&c);
	check("parser: confirm_within under 10 s is refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"user.lock\",\"params\":{\"user\":\"a\"},"
				"\"confirm_within_s\":5}",
				&c, err) == NX_PARSE_REFUSED);
	nx_command_free(&c);
	check("parser: a command without a valid id cannot even be reported",
		  parse("{\"id\":\"x\",\"command\":\"user.lock\",\"params\":{\"user\":\"a\"}}", &c, err) ==
				  NX_PARSE_MALFORMED &&
			  parse("[1,2]", &c, err) == NX_PARSE_MALFORMED &&
			  parse("{\"id\":", &c, err) == NX_PARSE_MALFORMED);
	nx_command_free(&c);
	check("parser: duplicate keys are refused",
		  parse("{\"id\":\"" ID(01) "\",\"command\":\"user.lock\",\"params\":{\"user\":\"a\","
				"\"user\":\"root\"}}",
				&c, err) == NX_PARSE_MALFORMED);
	nx_command_free(&c);
}

static void
test_config(void)
{
	NxConfig c;
	char path[300], err[512];

	snprintf(path, sizeof(path), "%s/agent.conf", root);
	put(path,
		"# comment\nurl = https://127.0.0.1:8443\nstate_dir = /var/lib/x\n"
		"managed_files = /etc/a.conf /etc/b.conf\npoll_wait = 5\n",
		0600);
	nx_config_defaults(&c);
	check("config: a good file loads, lists split on spaces",
		  nx_config_load(&c, path, err, sizeof(err)) == 0 && c.n_managed == 2 && c.poll_wait == 5 &&
			  nx_config_managed(&c, "/etc/b.conf") && !nx_config_managed(&c, "/etc/c.conf") &&
			  nx_config_risky(&c, "/etc/ssh/sshd_config"));
	nx_config_free(&c);
	put(path, "url = https://x\nmanaged_file = /etc/a\n", 0600);
	nx_config_defaults(&c);
	check("config: an unknown key is an error naming its line",
		  nx_config_load(&c, path, err, sizeof(err)) != 0 && strstr(err, "line 2") != NULL);
	nx_config_free(&c);
	put(path, "managed_files = etc/relative\n", 0600);
	nx_config_defaults(&c);
	check("config: a relative managed path is an error",
		  nx_config_load(&c, path, err, sizeof(err)) != 0);
	nx_config_free(&c);
	put(path, "poll_wait = 99\n", 0600);
	nx_config_defaults(&c);
	check("config: poll_wait over 30 is an error", nx_config_load(&c, path, err, sizeof(err)) != 0);
	nx_config_free(&c);
}

static void
test_exec(void)
{
	NxExecResult x;
	const char *echo[] = {"/bin/echo", "a b", "$HOME;", NULL};
	const char *cat[] = {"/bin/cat", NULL};
	const char *env[] = {"/usr/bin/env", NULL};
	const char *sleep_[] = {"/bin/sleep", "30", NULL};
	const char *yes[] = {"/usr/bin/yes", NULL};
	const char *fals[] = {"/bin/false", NULL};
	const char *rel[] = {"echo", "x", NULL};
	const char *group[] = {"/bin/sh", "-c", "sleep 30 & sleep 30", NULL};
	time_t t0;

	check("exec: arguments are passed as they are, no shell",
		  nx_exec(echo, NULL, 5, &x) == 0 && x.exit_code == 0 &&
			  strcmp(x.output, "a b $HOME;\n") == 0);
	nx_exec_free(&x);
	check("exec: stdin is the given line",
		  nx_exec(cat, "u:$6$x\n", 5, &x) == 0 && strcmp(x.output, "u:$6$x\n") == 0);
	nx_exec_free(&x);
	check("exec: stdin is /dev/null otherwise",
		  nx_exec(cat, NULL, 5, &x) == 0 && x.exit_code == 0 && x.output_len == 0);
	nx_exec_free(&x);
	check("exec: the environment is PATH and LANG only",
		  nx_exec(env, NULL, 5, &x) == 0 &&
			  strcmp(x.output, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C\n") == 0);
	nx_exec_free(&x);
	check("exec: the exit code is reported",
		  nx_exec(fals, NULL, 5, &x) == 0 && x.exit_code == 1 && !x.timed_out);
	nx_exec_free(&x);
	t0 = time(NULL);
	check("exec: a program past its timeout is killed",
		  nx_exec(sleep_, NULL, 1, &x) == 0 && x.timed_out && x.exit_code == -1 &&
			  time(NULL) - t0 < 10);
	nx_exec_free(&x);
	t0 = time(NULL);
	check("exec: the whole process group is killed at the timeout",
		  nx_exec(group, NULL, 1, &x) == 0 && x.timed_out && time(NULL) - t0 < 10);
	nx_exec_free(&x);
	check("exec: output is capped at 32 kB",
		  nx_exec(yes, NULL, 2, &x) == 0 && x.truncated && x.output_len == NX_AGENT_MAX_OUTPUT_BYTES);
	nx_exec_free(&x);
	check("exec: a relative program path is refused", nx_exec(rel, NULL, 5, &x) != 0);
	nx_exec_free(&x);
}

static void
test_files(void)
{
	char sha[65], err[512], dir[300];
	size_t len;
	unsigned char *d;
	char *e;

	sha_of("abc", sha);
	check("files: SHA-256 in lowercase hex",
		  strcmp(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
	e = b64("hello!?");
	d = nx_base64_decode(e, &len);
	check("files: base64 round trip (padding counted right)",
		  strcmp(e, "aGVsbG8hPw==") == 0 && d != NULL && len == 7 && memcmp(d, "hello!?", 7) == 0);
	free(e);
	free(d);
	snprintf(dir, sizeof(dir), "%s/etc/x", root);
	check("files: a root-owned, non-writable directory chain is accepted",
		  nx_dir_chain_safe(dir, err, sizeof(err)) == 0);
	check("files: a chain through /tmp (others may write) is refused",
		  nx_dir_chain_safe("/tmp/x/y", err, sizeof(err)) != 0 && strstr(err, "/tmp") != NULL);
}

/* A crypt(3) hash made by the real openssl passwd. */
static void
make_hash(const char *pw, char *out, size_t size)
{
	const char *argv[] = {"/usr/bin/openssl", "passwd", "-6", "-salt", "nxunitsalt", pw, NULL};
	NxExecResult x;

	out[0] = '\0';
	if (nx_exec(argv, NULL, 10, &x) == 0 && x.exit_code == 0)
		snprintf(out, size, "%.*s", (int) strcspn(x.output, "\n"), x.output);
	nx_exec_free(&x);
}

static bool
shadow_locked(bool *expired)
{
	struct spwd *sp = getspnam(user);

	*expired = sp != NULL && sp->sp_expire == 1;
	return sp != NULL && sp->sp_pwdp[0] == '!';
}

static void
test_users(void)
{
	char hash[200];
	bool expired;
	struct spwd *sp;
	json_t *p;

	make_hash("correct horse", hash, sizeof(hash));
	p = json_pack("{s:s, s:s}", "user", user, "hash", hash);
	check("user.set_password: the hash reaches /etc/shadow (by chpasswd -e on stdin)",
		  handle(ID(10), "user.set_password", p, 0) && state_is(ID(10), "succeeded") &&
			  (sp = getspnam(user)) != NULL && strcmp(sp->sp_pwdp, hash) == 0);
	check("user.lock: password locked and account expired",
		  handle(ID(11), "user.lock", json_pack("{s:s}", "user", user), 0) &&
			  state_is(ID(11), "succeeded") && shadow_locked(&expired) && expired);
	check("user.unlock: both undone",
		  handle(ID(12), "user.unlock", json_pack("{s:s}", "user", user), 0) &&
			  state_is(ID(12), "succeeded") && !shadow_locked(&expired) && !expired);
	check("user.lock of an unknown user fails and says so",
		  handle(ID(13), "user.lock", json_pack("{s:s}", "user", "nx_nosuchuser"), 0) &&
			  state_is(ID(13), "failed"));
	check("user.lock with confirm_within: applied, then reverted (unlocked) at the deadline",
		  handle(ID(14), "user.lock", json_pack("{s:s}", "user", user), 30) &&
			  state_is(ID(14), "applied") && shadow_locked(&expired) &&
			  nx_pending_exists(&agent, ID(14)) &&
			  nx_pending_tick(&agent, time(NULL) + 31, NULL) == 1 && state_is(ID(14), "reverted") &&
			  !shadow_locked(&expired) && !nx_pending_exists(&agent, ID(14)));
}

static char *
home_path(const char *sub)
{
	struct passwd *pw = getpwnam(user);
	char *p = NULL;

	if (pw == NULL || asprintf(&p, "%s/%s", pw->pw_dir, sub) < 0)
		return NULL;
	return p;
}

static void
test_ssh(void)
{
	char *ak = home_path(".ssh/authorized_keys"), *ssh = home_path(".ssh");
	struct stat st, sst;
	struct passwd *pw = getpwnam(user);
	unsigned char *before, *after;
	size_t lb, la;
	json_t *rs;

	check("ssh key add: ~/.ssh 0700 and authorized_keys 0600, both the user's, the key in it",
		  handle(ID(20), "ssh.authorized_key.add", json_pack("{s:s, s:s}", "user", user, "key", KEY1), 0) &&
			  state_is(ID(20), "succeeded") && stat(ak, &st) == 0 && stat(ssh, &sst) == 0 &&
			  (st.st_mode & 07777) == 0600 && (sst.st_mode & 07777) == 0700 &&
			  st.st_uid == pw->pw_uid && sst.st_uid == pw->pw_uid && file_is(ak, KEY1 "\n"));
	rs = reports(ID(21));
	check("ssh key add: a key already there (another comment) is a success that changes nothing",
		  handle(ID(21), "ssh.authorized_key.add",
				 json_pack("{s:s, s:s}", "user", user, "key",
						   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJxwEJvKAV5k6Mz3rawWd1mdehi1y6n9Rk8Ny5/05ivV other"),
				 0) &&
			  state_is(ID(21), "succeeded") && file_is(ak, KEY1 "\n"));
	json_decref(rs);
	put(ak, "# keep me\nfrom=\"10.0.0.1\" " KEY1 "\n" KEY2 "\n", 0600);
	if (chown(ak, pw->pw_uid, pw->pw_gid) != 0)
		fprintf(stderr, "chown failed\n");
	check("ssh key remove: every line with that type and base64 goes, others stay",
		  handle(ID(22), "ssh.authorized_key.remove", json_pack("{s:s, s:s}", "user", user, "key", KEY1), 0) &&
			  state_is(ID(22), "succeeded") && file_is(ak, "# keep me\n" KEY2 "\n"));
	check("ssh key remove: an absent key is a success",
		  handle(ID(23), "ssh.authorized_key.remove", json_pack("{s:s, s:s}", "user", user, "key", KEY1), 0) &&
			  state_is(ID(23), "succeeded"));
	unlink(ak);
	if (symlink("/etc/passwd", ak) != 0)
		fprintf(stderr, "symlink failed\n");
	nx_read_file("/etc/passwd", 1 << 22, &before, &lb);
	check("ssh key add: authorized_keys as a symbolic link is refused, its target untouched",
		  handle(ID(24), "ssh.authorized_key.add", json_pack("{s:s, s:s}", "user", user, "key", KEY2), 0) &&
			  state_is(ID(24), "failed") && nx_read_file("/etc/passwd", 1 << 22, &after, &la) == 0 &&
			  la == lb && memcmp(before, after, la) == 0);
	free(before);
	free(after);
	unlink(ak);
	check("ssh key add with confirm_within: the key is removed again at the deadline",
		  handle(ID(25), "ssh.authorized_key.add", json_pack("{s:s, s:s}", "user", user, "key", KEY2), 60) &&
			  state_is(ID(25), "applied") && file_is(ak, KEY2 "\n") &&
			  nx_pending_tick(&agent, time(NULL) + 61, NULL) == 1 && state_is(ID(25), "reverted") &&
			  file_is(ak, ""));
	free(ak);
	free(ssh);
}

static void
test_file_write(void)
{
	char managed[300], risky[300], other[300], sshd[300], sha[65], unsafe[300];
	json_t *rs, *out;
	struct stat st;
	const char *good_sshd;

	snprintf(managed, sizeof(managed), "%s/etc/app.conf", root);
	snprintf(risky, sizeof(risky), "%s/etc/risky.conf", root);
	snprintf(other, sizeof(other), "%s/etc/other.conf", root);
	snprintf(sshd, sizeof(sshd), "%s/etc/ssh/sshd_config", root);
	snprintf(unsafe, sizeof(unsafe), "%s/open/app.conf", root);

	check("file.write: a path not in managed_files is refused",
		  handle(ID(30), "file.write", write_params(other, "x\n", "absent", NULL), 0) &&
			  state_is(ID(30), "refused") && file_is(other, NULL));
	check("file.write: a new file (expected absent) is written with the mode given",
		  handle(ID(31), "file.write", write_params(managed, "one\n", "absent", "0640"), 0) &&
			  state_is(ID(31), "succeeded") && file_is(managed, "one\n") && stat(managed, &st) == 0 &&
			  (st.st_mode & 07777) == 0640 && st.st_uid == 0);
	check("file.write: a checksum that no longer matches fails and changes nothing",
		  handle(ID(32), "file.write", write_params(managed, "two\n", "absent", NULL), 0) &&
			  state_is(ID(32), "failed") && file_is(managed, "one\n"));
	sha_of("one\n", sha);
	rs = NULL;
	check("file.write: the approved checksum matches: replaced, mode kept",
		  handle(ID(33), "file.write", write_params(managed, "two\n", sha, NULL), 0) &&
			  state_is(ID(33), "succeeded") && file_is(managed, "two\n") && stat(managed, &st) == 0 &&
			  (st.st_mode & 07777) == 0640);
	rs = reports(ID(33));
	out = json_object_get(json_array_get(rs, 0), "output");
	check("file.write: the report carries previous_content (base64) and previous_mode for rollback",
		  json_is_string(json_object_get(out, "previous_content")) &&
			  strcmp(json_string_value(json_object_get(out, "previous_content")), "b25lCg==") == 0 &&
			  strcmp(json_string_value(json_object_get(out, "previous_mode")), "0640") == 0);
	json_decref(rs);
	check("file.write: a backup of the previous content is kept in the state directory", ({
			  char *b = nx_state_path(&agent, "backups", ID(33));
			  bool ok = file_is(b, "one\n");
			  free(b);
			  ok;
		  }));
	check("file.write: the same command polled again is not run twice", ({
			  char s2[65];
			  sha_of("two\n", s2);
			  put(managed, "changed meanwhile\n", 0640);
			  bool ok = handle(ID(33), "file.write", write_params(managed, "two\n", sha, NULL), 0) &&
						file_is(managed, "changed meanwhile\n");
			  rs = reports(ID(33));
			  ok = ok && json_array_size(rs) == 1;
			  json_decref(rs);
			  ok;
		  }));
	unlink(managed);
	if (symlink("/etc/hostname", managed) != 0)
		fprintf(stderr, "symlink failed\n");
	check("file.write: a managed path that is a symbolic link is refused",
		  handle(ID(34), "file.write", write_params(managed, "x\n", "absent", NULL), 0) &&
			  state_is(ID(34), "refused"));
	unlink(managed);
	check("file.write: a managed file under a directory others may write is refused",
		  handle(ID(35), "file.write", write_params(unsafe, "x\n", "absent", NULL), 0) &&
			  state_is(ID(35), "refused") && file_is(unsafe, NULL));

	/* dead-man: a risky file */
	put(risky, "safe\n", 0644);
	sha_of("safe\n", sha);
	check("dead-man: a risky file.write arms its revert on disk before the change, reports applied",
		  handle(ID(40), "file.write", write_params(risky, "risky\n", sha, NULL), 0) &&
			  state_is(ID(40), "applied") && nx_pending_exists(&agent, ID(40)) &&
			  file_is(risky, "risky\n"));
	rs = reports(ID(40));
	check("dead-man: the applied report names its check and revert_at",
		  json_is_string(json_object_get(json_array_get(rs, 0), "check")) &&
			  json_is_string(json_object_get(json_array_get(rs, 0), "revert_at")));
	json_decref(rs);
	check("dead-man: nothing is reverted before the deadline",
		  nx_pending_tick(&agent, time(NULL), NULL) == 0 && file_is(risky, "risky\n"));
	check("dead-man: no confirmation by the deadline: the backup is restored, reported reverted",
		  nx_pending_tick(&agent, time(NULL) + NX_AGENT_DEFAULT_CONFIRM_S + 1, NULL) == 1 &&
			  file_is(risky, "safe\n") && !nx_pending_exists(&agent, ID(40)) &&
			  state_is(ID(40), "reverted"));
	check("dead-man: a confirmation after the revert changes nothing",
		  nx_pending_confirm(&agent, ID(40)) == 0 && file_is(risky, "safe\n") &&
			  state_is(ID(40), "reverted"));
	check("dead-man: a confirmed change stays (pending dropped, reported confirmed)",
		  handle(ID(41), "file.write", write_params(risky, "kept\n", sha, NULL), 0) &&
			  state_is(ID(41), "applied") && nx_pending_confirm(&agent, ID(41)) == 0 &&
			  !nx_pending_exists(&agent, ID(41)) && state_is(ID(41), "confirmed") &&
			  nx_pending_tick(&agent, time(NULL) + 3600, NULL) == 0 && file_is(risky, "kept\n"));
	/* a pending revert left by an agent that died inside the window */
	sha_of("kept\n", sha);
	check("dead-man: an agent restarted after the deadline reverts at once", ({
			  bool ok = handle(ID(42), "file.write", write_params(risky, "lost\n", sha, NULL), 0);
			  char *p = nx_state_path(&agent, "pending", ID(42) ".json");
			  json_t *pend = nx_read_json(p);
			  json_object_set_new(pend, "deadline", json_integer(time(NULL) - 5));
			  nx_write_json(p, pend);
			  json_decref(pend);
			  free(p);
			  /* what run.c does first at start */
			  ok = ok && nx_pending_tick(&agent, time(NULL), NULL) == 1 && file_is(risky, "kept\n") &&
				   state_is(ID(42), "reverted");
			  ok;
		  }));
	check("dead-man: a new risky file (expected absent) is removed again by the revert", ({
			  unlink(risky);
			  bool ok = handle(ID(43), "file.write", write_params(risky, "new\n", "absent", NULL), 30) &&
						state_is(ID(43), "applied") && file_is(risky, "new\n") &&
						nx_pending_tick(&agent, time(NULL) + 31, NULL) == 1 && file_is(risky, NULL);
			  ok;
		  }));

	check("dead-man: an agent that died between arming and its check: undone at the deadline, "
		  "reported failed (nothing is left changed)", ({
			  char *text = cmd_json(ID(46), "file.write", write_params(risky, "half\n", "absent", NULL), 30);
			  NxCommand c;
			  char e[512];
			  const char *why = NULL;
			  bool ok = parse(text, &c, e) == NX_PARSE_OK;
			  json_t *undo = ok ? nx_host_prepare_undo(&agent, &c, e, sizeof(e), &why) : NULL;
			  ok = ok && undo != NULL && nx_pending_arm(&agent, &c, undo, time(NULL) + 30) == 0;
			  if (ok)
				  json_decref(nx_host_run_with(&agent, &c, undo));
			  ok = ok && file_is(risky, "half\n") && !nx_done_exists(&agent, ID(46)) &&
				   nx_pending_tick(&agent, time(NULL) + 31, NULL) == 1 && file_is(risky, NULL) &&
				   state_is(ID(46), "failed");
			  json_decref(undo);
			  nx_command_free(&c);
			  free(text);
			  ok;
		  }));

	/* sshd_config: the check is sshd -t */
	good_sshd = "Port 2222\nListenAddress 127.0.0.1\nPasswordAuthentication yes\n";
	put(sshd, good_sshd, 0644);
	sha_of(good_sshd, sha);
	check("dead-man: an sshd_config that sshd -t rejects is reverted at once and reported failed",
		  handle(ID(44), "file.write", write_params(sshd, "Port 2222\nNoSuchOption yes\n", sha, NULL), 0) &&
			  state_is(ID(44), "failed") && file_is(sshd, good_sshd) &&
			  !nx_pending_exists(&agent, ID(44)));
	rs = reports(ID(44));
	check("dead-man: the failure says sshd -t failed",
		  strstr(json_string_value(json_object_get(json_array_get(rs, 0), "error")), "sshd -t") != NULL);
	json_decref(rs);
	check("dead-man: an sshd_config that passes sshd -t is applied with that check named", ({
			  bool ok = handle(ID(45), "file.write",
							   write_params(sshd, "Port 2223\nListenAddress 127.0.0.1\n", sha, NULL), 0) &&
						state_is(ID(45), "applied");
			  json_t *r = reports(ID(45));
			  ok = ok && strstr(json_string_value(json_object_get(json_array_get(r, 0), "check")),
								"sshd -t") != NULL;
			  json_decref(r);
			  nx_pending_confirm(&agent, ID(45));
			  ok;
		  }));
}

static void
test_misc(void)
{
	json_t *rs;

	check("facts.collect: host name, kernel, users with a login shell, agent version",
		  handle(ID(50), "facts.collect", json_object(), 0) && state_is(ID(50), "succeeded") && ({
			  json_t *o;
			  rs = reports(ID(50));
			  o = json_object_get(json_array_get(rs, 0), "output");
			  bool ok = json_is_string(json_object_get(o, "hostname")) &&
						json_is_string(json_object_get(o, "kernel")) &&
						json_array_size(json_object_get(o, "users")) >= 1 &&
						json_is_string(json_object_get(o, "agent_version"));
			  json_decref(rs);
			  ok;
		  }));
	check("service.status without systemd fails with a sentence, not a crash",
		  handle(ID(51), "service.status", json_pack("{s:s}", "unit", "nx-none.service"), 0) &&
			  (state_is(ID(51), "failed") || state_is(ID(51), "succeeded")));
	check("reports wait in the outbox while the shim is away", ({
			  char *m = nx_state_path(&agent, "outbox", ID(50));
			  bool ok = access(m, F_OK) == 0;
			  free(m);
			  ok;
		  }));
}

int
main(void)
{
	char dir[400];
	const char *useradd[] = {"/usr/sbin/useradd", "-m", "-d", NULL, "-s", "/bin/bash", NULL, NULL};
	const char *userdel[] = {"/usr/sbin/userdel", "-r", NULL, NULL};
	char home[400];
	char err[512];
	json_t *rs;

	snprintf(root, sizeof(root), "/run/nxagent-unit.%d", (int) getpid());
	snprintf(user, sizeof(user), "nxut%d", (int) getpid() % 100000);
	umask(022);
	mkdir("/run/sshd", 0755); /* sshd -t wants its privilege separation directory */
	mkdir(root, 0755);
	snprintf(dir, sizeof(dir), "%s/etc", root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/etc/ssh", root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/open", root);
	mkdir(dir, 0777);
	chmod(dir, 0777);
	snprintf(dir, sizeof(dir), "%s/home", root);
	mkdir(dir, 0755);
	snprintf(home, sizeof(home), "%s/home/%s", root, user);
	useradd[3] = home;
	useradd[6] = user;
	userdel[2] = user;
	check("a throwaway account is made (useradd)", sh(useradd) == 0);

	nx_config_defaults(&agent.conf);
	snprintf(agent.conf.state_dir, sizeof(agent.conf.state_dir), "%s/state", root);
	snprintf(agent.url, sizeof(agent.url), "https://127.0.0.1:9");
	agent.offline = true;
	nx_agent_paths(&agent);
	nx_mkdir_private(agent.conf.state_dir);
	for (const char *const *s = (const char *const[]){"pending", "done", "backups", "outbox", NULL};
		 *s; s++)
	{
		char *p = nx_state_path(&agent, *s, NULL);

		nx_mkdir_private(p);
		free(p);
	}
	{
		char m1[300], m2[300], m3[300], m4[300];
		char *list;

		snprintf(m1, sizeof(m1), "%s/etc/app.conf", root);
		snprintf(m2, sizeof(m2), "%s/etc/risky.conf", root);
		snprintf(m3, sizeof(m3), "%s/etc/ssh/sshd_config", root);
		snprintf(m4, sizeof(m4), "%s/open/app.conf", root);
		agent.conf.managed_files[agent.conf.n_managed++] = strdup(m1);
		agent.conf.managed_files[agent.conf.n_managed++] = strdup(m2);
		agent.conf.managed_files[agent.conf.n_managed++] = strdup(m3);
		agent.conf.managed_files[agent.conf.n_managed++] = strdup(m4);
		if (asprintf(&list, "%s %s", m2, m3) > 0)
		{
			for (int i = 0; i < agent.conf.n_risky; i++)
				free(agent.conf.risky_files[i]);
			agent.conf.n_risky = 0;
			agent.conf.risky_files[agent.conf.n_risky++] = strdup(m2);
			agent.conf.risky_files[agent.conf.n_risky++] = strdup(m3);
			free(list);
		}
	}
	(void) err;

	test_parser();
	test_config();
	test_exec();
	test_files();
	test_users();
	test_ssh();
	test_file_write();
	test_misc();

	rs = reports(ID(11));
	json_decref(rs);
	check("the throwaway account is removed (userdel)", sh(userdel) == 0);
	{
		const char *rm[] = {"/bin/rm", "-rf", root, NULL};

		sh(rm);
	}
	nx_config_free(&agent.conf);
	printf("%d failed\n", failures);
	return failures == 0 ? 0 : 1;
}
