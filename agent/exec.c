/*
 * exec.c -- run one program the way docs/agent.md promises: by absolute
 * path with execve and a fixed argument vector (never a shell), an
 * environment of PATH and LANG only, stdin from /dev/null or one given
 * line, in a process group of its own that is killed when the timeout
 * passes, stdout and stderr together capped at 32 kB.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const exec_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: only 0, 1 and 2 stay open. */
static void
close_other_fds(void)
{
	long max = sysconf(_SC_OPEN_MAX);

	for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		close(fd);
}

int
nx_exec(const char *const argv[], const char *stdin_data, int timeout_s, NxExecResult *r)
{
	int out[2], in[2] = {-1, -1};
	pid_t pid;
	long long deadline;
	int status = 0;
	size_t cap = NX_AGENT_MAX_OUTPUT_BYTES;

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	if (argv[0] == NULL || argv[0][0] != '/')
		return -1;
	r->output = calloc(1, cap + 1);
	if (r->output == NULL || pipe2(out, O_CLOEXEC) != 0)
		return -1;
	if (stdin_data != NULL && pipe2(in, O_CLOEXEC) != 0)
	{
		close(out[0]);
		close(out[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0)
	{
		close(out[0]);
		close(out[1]);
		if (in[0] >= 0)
		{
			close(in[0]);
			close(in[1]);
		}
		return -1;
	}
	if (pid == 0)
	{
		int devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		dup2(stdin_data != NULL ? in[0] : devnull, 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		close_other_fds();
		execve(argv[0], (char *const *) argv, (char *const *) exec_env);
		_exit(127);
	}
	setpgid(pid, pid);
	close(out[1]);
	if (stdin_data != NULL)
	{
		size_t len = strlen(stdin_data);
		ssize_t w;

		close(in[0]);
		/* one short line: it fits the pipe's buffer, so this cannot block */
		w = write(in[1], stdin_data, len);
		(void) w;
		close(in[1]);
	}
	deadline = now_ms() + (long long) timeout_s * 1000;
	for (;;)
	{
		struct pollfd pfd = {.fd = out[0], .events = POLLIN};
		long long left = deadline - now_ms();
		char buf[4096];
		ssize_t n;

		if (left <= 0)
		{
			r->timed_out = true;
			break;
		}
		if (poll(&pfd, 1, (int) (left > 1000 ? 1000 : left)) < 0)
		{
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd.revents == 0)
			continue;
		n = read(out[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (r->output_len < cap)
		{
			size_t take = (size_t) n < cap - r->output_len ? (size_t) n : cap - r->output_len;

			memcpy(r->output + r->output_len, buf, take);
			r->output_len += take;
			if (take < (size_t) n)
				r->truncated = true;
		}
		else
			r->truncated = true;
	}
	close(out[0]);
	if (r->timed_out)
		kill(-pid, SIGKILL);
	/* the program closed its output: give it until the deadline to exit */
	for (;;)
	{
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (now_ms() >= deadline && !r->timed_out)
		{
			r->timed_out = true;
			kill(-pid, SIGKILL);
		}
		usleep(10000);
	}
	/* whatever it left in its group goes with it */
	kill(-pid, SIGKILL);
	if (WIFEXITED(status) && !r->timed_out)
		r->exit_code = WEXITSTATUS(status);
	r->output[r->output_len] = '\0';
	return 0;
}

void
nx_exec_free(NxExecResult *r)
{
	free(r->output);
	r->output = NULL;
}
