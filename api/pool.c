/*
 * pool.c -- asynchronous libpq connections in pipeline mode.
 *
 * Each connection is non-blocking and watched by one libevent event on its
 * socket, so a slow statement holds only its own connection.  Jobs wait in
 * a FIFO queue for an idle connection.  A broken connection fails its job
 * (the caller answers 503), and is re-opened with back-off, asynchronously
 * too (PQconnectStartParams / PQconnectPoll), so the loop never blocks on
 * the database.
 */
#include "pool.h"

#include "log.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct PoolJob {
	struct PoolJob *next;
	int			nstmts;
	char	   *sql[NX_POOL_MAX_STMTS];
	int			nparams[NX_POOL_MAX_STMTS];
	char	   *values[NX_POOL_MAX_STMTS][NX_POOL_MAX_PARAMS];
	PoolCallback cb;
	void	   *arg;
	PoolReply	reply;
	struct timespec sent;
} PoolJob;

/*
 * A pooled connection's states.  Only conn_start, conn_connect_step,
 * conn_send, conn_read_results and conn_broken change them.
 *
 *            conn_start              PQconnectPoll OK
 *   +------+ ---------> +------------+ -------------> +------+
 *   | DOWN |            | CONNECTING |                | IDLE | <------+
 *   +------+ <--------- +------------+                +------+        |
 *    ^   ^     fails                             conn_send |          | the Sync's
 *    |   |                                                 v          | result
 *    |   |                                            +------+        |
 *    |   +--- send, flush or read fails, or results - | BUSY | -------+
 *    |        out of step with the job                +------+
 *    +---------- the server closed an idle connection
 *
 * (conn_start goes straight back to DOWN when libpq cannot even begin.)
 * Entering DOWN (conn_broken) fails the connection's job, if any, and
 * arms the retry timer: 100 ms, doubling to 5 s while reconnects fail, back
 * to 0 once one succeeds.  A job waits in the queue while a connection is
 * CONNECTING; when every connection is DOWN the queue is failed and
 * nx_pool_submit refuses (NX_SUBMIT_DOWN), so no request waits for nothing.
 * A pool that LISTENs sends its LISTEN as the first job of every connect,
 * so it goes from CONNECTING through BUSY to IDLE before any other job.
 *
 * Prepared statements: a connection prepares each SELECT the first time it
 * sends it (a Parse named "nxN" in the same pipeline, just before its
 * first execution) and from then on only binds and executes it, so the
 * server parses and plans a route's call once per connection instead of
 * once per request.  Up to NX_POOL_MAX_PREPARED texts per connection; past
 * that, statements go unnamed as before.  A Parse that fails or is skipped
 * (an earlier statement of the job failed) leaves nothing prepared: the
 * entry is dropped and the next job prepares it again.  Its error is the
 * statement's error.  The server replans prepared statements after DDL,
 * so an upgraded extension needs no reconnect.
 */
typedef enum NxConnState {
	NX_CONN_DOWN,				/* no PGconn (pg is NULL): not yet opened or
								 * broken; the retry timer reopens it.  The
								 * zero value, where a new PoolConn starts */
	NX_CONN_CONNECTING,			/* PQconnectStartParams returned; each socket
								 * event runs one PQconnectPoll step */
	NX_CONN_IDLE,				/* connected, non-blocking, in pipeline mode,
								 * no job; watched for notifications and EOF */
	NX_CONN_BUSY,				/* one job's statements and Sync sent (maybe
								 * still flushing); results are read until the
								 * Sync's */
} NxConnState;

#define NX_POOL_MAX_PREPARED 64

typedef struct Prepared {
	char	   *sql;			/* NULL: a free slot */
	char		name[16];
} Prepared;

/* One result the server owes a job: a statement's Parse or its execution. */
typedef struct PendingResult {
	int			stmt;
	int			prepared;		/* the slot of a Parse; -1 for an execution */
} PendingResult;

typedef struct PoolConn {
	Pool	   *pool;
	PGconn	   *pg;
	NxConnState	state;
	struct event *ev;			/* socket readiness */
	struct event *retry;		/* reconnect timer */
	int			backoff_ms;
	PostgresPollingStatusType poll;
	PoolJob    *job;
	PendingResult pending[2 * NX_POOL_MAX_STMTS];
	int			npending;
	int			cursor;			/* which of pending comes next */
	Prepared	prepared[NX_POOL_MAX_PREPARED];
	int			next_name;		/* names are nx1, nx2, ...: never reused */
} PoolConn;

struct Pool {
	struct event_base *base;
	char	   *conninfo;
	char		options[64];
	int			size;
	int			queue_max;
	int			queued;
	PoolJob    *head;
	PoolJob    *tail;
	PoolConn   *conns;
	char	   *listen_sql;		/* LISTEN ..., sent first on every connect */
	PoolNotify	notify;
	void	   *notify_arg;
};

static void conn_start(PoolConn *c);
static void conn_event(evutil_socket_t fd, short what, void *arg);
static void conn_dispatch(Pool *pool);
static void conn_send(PoolConn *c, PoolJob *job);
static PoolJob *listen_job(Pool *pool);

static void
job_free(PoolJob *job)
{
	for (int i = 0; i < job->nstmts; i++)
	{
		free(job->sql[i]);
		for (int j = 0; j < job->nparams[i]; j++)
		{
			/* parameters may carry passwords and tokens */
			if (job->values[i][j])
				explicit_bzero(job->values[i][j], strlen(job->values[i][j]));
			free(job->values[i][j]);
		}
		free(job->reply.r[i].value);
		free((char *) job->reply.r[i].error.message);
		free((char *) job->reply.r[i].error.detail);
		free((char *) job->reply.r[i].error.hint);
	}
	free(job);
}

static void
job_finish(PoolJob *job)
{
	job->reply.db_ms = nx_ms_since(&job->sent);
	job->cb(&job->reply, job->arg);
	job_free(job);
}

/* (Re)watch the socket for what libpq needs next. */
static void
conn_watch(PoolConn *c, short what)
{
	if (c->ev)
		event_free(c->ev);
	c->ev = event_new(c->pool->base, PQsocket(c->pg), what, conn_event, c);
	event_add(c->ev, NULL);
}

static void
conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_start(arg);
}

/* With every connection down, waiting jobs would wait for nothing. */
static void
pool_fail_queue_if_down(Pool *pool)
{
	PoolJob    *job;

	for (int i = 0; i < pool->size; i++)
		if (pool->conns[i].state != NX_CONN_DOWN)
			return;
	while ((job = pool->head) != NULL)
	{
		pool->head = job->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		pool->queued--;
		job->reply.failed = true;
		job_finish(job);
	}
}

static void
prepared_forget(Prepared *p)
{
	free(p->sql);
	p->sql = NULL;
}

/* A new server session has none of the old one's statements. */
static void
prepared_forget_all(PoolConn *c)
{
	for (int i = 0; i < NX_POOL_MAX_PREPARED; i++)
		prepared_forget(&c->prepared[i]);
}

/* The slot of sql in c's statements, or -1. */
static int
prepared_find(const PoolConn *c, const char *sql)
{
	for (int i = 0; i < NX_POOL_MAX_PREPARED; i++)
		if (c->prepared[i].sql && strcmp(c->prepared[i].sql, sql) == 0)
			return i;
	return -1;
}

/* A free slot named afresh for sql, or -1 when every slot is taken. */
static int
prepared_add(PoolConn *c, const char *sql)
{
	for (int i = 0; i < NX_POOL_MAX_PREPARED; i++)
		if (c->prepared[i].sql == NULL)
		{
			c->prepared[i].sql = strdup(sql);
			if (c->prepared[i].sql == NULL)
				return -1;
			snprintf(c->prepared[i].name, sizeof(c->prepared[i].name), "nx%d", ++c->next_name);
			return i;
		}
	return -1;
}

/* The connection is gone: fail its job, schedule a reconnect. */
static void
conn_broken(PoolConn *c, const char *why)
{
	struct timeval tv;
	PoolJob    *job = c->job;

	if (c->state != NX_CONN_CONNECTING || c->backoff_ms == 0)
		nx_log("warning", "database connection lost: %s", why);
	if (c->ev)
		event_free(c->ev);
	c->ev = NULL;
	PQfinish(c->pg);
	c->pg = NULL;
	prepared_forget_all(c);
	c->state = NX_CONN_DOWN;
	c->job = NULL;
	c->backoff_ms = c->backoff_ms ? (c->backoff_ms * 2 > 5000 ? 5000 : c->backoff_ms * 2) : 100;
	tv.tv_sec = c->backoff_ms / 1000;
	tv.tv_usec = (c->backoff_ms % 1000) * 1000;
	if (c->retry == NULL)
		c->retry = evtimer_new(c->pool->base, conn_retry_cb, c);
	evtimer_add(c->retry, &tv);
	if (job)
	{
		job->reply.failed = true;
		job_finish(job);
	}
	pool_fail_queue_if_down(c->pool);
}

static void
conn_start(PoolConn *c)
{
	const char *keys[] = {"dbname", "application_name", "client_encoding", "options", NULL};
	const char *vals[] = {c->pool->conninfo, "nexplane-api", "UTF8", c->pool->options, NULL};

	c->pg = PQconnectStartParams(keys, vals, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD)
	{
		conn_broken(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	c->state = NX_CONN_CONNECTING;
	c->poll = PGRES_POLLING_WRITING;
	conn_watch(c, EV_WRITE);
}

static void
conn_connect_step(PoolConn *c)
{
	c->poll = PQconnectPoll(c->pg);
	switch (c->poll)
	{
		case PGRES_POLLING_READING:
			conn_watch(c, EV_READ);
			return;
		case PGRES_POLLING_WRITING:
			conn_watch(c, EV_WRITE);
			return;
		case PGRES_POLLING_OK:
			if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1)
			{
				conn_broken(c, PQerrorMessage(c->pg));
				return;
			}
			if (c->backoff_ms)
				nx_log("info", "database connection re-established");
			c->backoff_ms = 0;
			c->state = NX_CONN_IDLE;
			conn_watch(c, EV_READ | EV_PERSIST);
			if (c->pool->listen_sql)
				conn_send(c, listen_job(c->pool));
			else
				conn_dispatch(c->pool);
			return;
		default:
			conn_broken(c, PQerrorMessage(c->pg));
			return;
	}
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* A failed result's SQLSTATE, message, detail and hint into r. */
static void
read_error(PGresult *res, PoolStmtResult *r)
{
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	snprintf(r->error.sqlstate, sizeof(r->error.sqlstate), "%s", st ? st : "XX000");
	r->error.message = dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	r->error.detail = dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
	r->error.hint = dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
}

/* A Parse's result: keep the statement only if the server has it now. */
static void
read_prepare_result(PoolConn *c, PGresult *res, PoolStmtResult *r, int slot)
{
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		return;
	prepared_forget(&c->prepared[slot]);
	if (PQresultStatus(res) != PGRES_PIPELINE_ABORTED)
		read_error(res, r);
}

/* Take what results have arrived; finish the job at the Sync. */
static void
conn_read_results(PoolConn *c)
{
	PoolJob    *job = c->job;

	while (!PQisBusy(c->pg))
	{
		PGresult   *res = PQgetResult(c->pg);
		PoolStmtResult *r;
		const PendingResult *p;

		if (res == NULL)
		{
			/* end of one Parse's or statement's results */
			if (++c->cursor > c->npending)
			{
				conn_broken(c, "unexpected end of pipeline results");
				return;
			}
			continue;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			c->job = NULL;
			c->state = NX_CONN_IDLE;
			c->cursor = 0;
			job_finish(job);
			conn_dispatch(c->pool);
			return;
		}
		if (c->cursor >= c->npending)
		{
			PQclear(res);
			conn_broken(c, "more pipeline results than statements");
			return;
		}
		p = &c->pending[c->cursor];
		r = &job->reply.r[p->stmt];
		if (p->prepared >= 0)
		{
			read_prepare_result(c, res, r, p->prepared);
			PQclear(res);
			continue;
		}
		switch (PQresultStatus(res))
		{
			case PGRES_TUPLES_OK:
			case PGRES_COMMAND_OK:
				r->ok = true;
				if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
					r->value = strdup(PQgetvalue(res, 0, 0));
				break;
			case PGRES_PIPELINE_ABORTED:
				/* skipped, unless its own Parse failed: then that is its error */
				if (r->error.sqlstate[0] == '\0')
					r->skipped = true;
				break;
			default:
				read_error(res, r);
				break;
		}
		PQclear(res);
	}
}

static void
conn_event(evutil_socket_t fd, short what, void *arg)
{
	PoolConn   *c = arg;

	if (c->state == NX_CONN_CONNECTING)
	{
		conn_connect_step(c);
		return;
	}
	if (what & EV_WRITE)
	{
		int			f = PQflush(c->pg);

		if (f < 0)
		{
			conn_broken(c, PQerrorMessage(c->pg));
			return;
		}
		if (f == 0)
			conn_watch(c, EV_READ | EV_PERSIST);
	}
	if (what & EV_READ)
	{
		PGnotify   *n;

		if (PQconsumeInput(c->pg) != 1)
		{
			conn_broken(c, PQerrorMessage(c->pg));
			return;
		}
		while ((n = PQnotifies(c->pg)) != NULL)
		{
			if (c->pool->notify)
				c->pool->notify(n->extra, c->pool->notify_arg);
			PQfreemem(n);
		}
		if (c->state == NX_CONN_BUSY)
			conn_read_results(c);
		else if (PQstatus(c->pg) != CONNECTION_OK)
			conn_broken(c, PQerrorMessage(c->pg));
	}
}

/*
 * Send one statement: executed by name when this connection has prepared
 * it, prepared first when it is a SELECT and a slot is free, else unnamed.
 * Notes in c->pending which results the server will send for it.
 */
static bool
send_stmt(PoolConn *c, PoolJob *job, int i)
{
	const char *const *values = (const char *const *) job->values[i];
	int			slot = prepared_find(c, job->sql[i]);

	if (slot < 0 && strncmp(job->sql[i], "SELECT ", 7) == 0)
	{
		slot = prepared_add(c, job->sql[i]);
		if (slot >= 0)
		{
			if (PQsendPrepare(c->pg, c->prepared[slot].name, job->sql[i],
							  job->nparams[i], NULL) != 1)
				return false;
			c->pending[c->npending++] = (PendingResult) {.stmt = i, .prepared = slot};
		}
	}
	c->pending[c->npending++] = (PendingResult) {.stmt = i, .prepared = -1};
	if (slot >= 0)
		return PQsendQueryPrepared(c->pg, c->prepared[slot].name, job->nparams[i],
								   values, NULL, NULL, 0) == 1;
	return PQsendQueryParams(c->pg, job->sql[i], job->nparams[i], NULL,
							 values, NULL, NULL, 0) == 1;
}

/* Send a job's statements and the Sync; flush when the socket allows. */
static void
conn_send(PoolConn *c, PoolJob *job)
{
	c->job = job;
	c->state = NX_CONN_BUSY;
	c->cursor = 0;
	c->npending = 0;
	clock_gettime(CLOCK_MONOTONIC, &job->sent);
	for (int i = 0; i < job->nstmts; i++)
	{
		if (!send_stmt(c, job, i))
		{
			conn_broken(c, PQerrorMessage(c->pg));
			return;
		}
	}
	if (PQpipelineSync(c->pg) != 1)
	{
		conn_broken(c, PQerrorMessage(c->pg));
		return;
	}
	switch (PQflush(c->pg))
	{
		case 0:
			return;				/* all sent; the READ|PERSIST watch stays */
		case 1:
			conn_watch(c, EV_READ | EV_WRITE | EV_PERSIST);
			return;
		default:
			conn_broken(c, PQerrorMessage(c->pg));
	}
}

static void
conn_dispatch(Pool *pool)
{
	for (int i = 0; i < pool->size && pool->head; i++)
	{
		PoolConn   *c = &pool->conns[i];
		PoolJob    *job;

		if (c->state != NX_CONN_IDLE)
			continue;
		job = pool->head;
		pool->head = job->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		pool->queued--;
		job->next = NULL;
		conn_send(c, job);
	}
}

Pool *
nx_pool_new(struct event_base *base, const char *conninfo, int size, int queue_max,
			int statement_timeout_ms)
{
	Pool	   *pool = calloc(1, sizeof(Pool));

	pool->base = base;
	pool->conninfo = strdup(conninfo);
	pool->size = size;
	pool->queue_max = queue_max;
	snprintf(pool->options, sizeof(pool->options), "-c statement_timeout=%d",
			 statement_timeout_ms);
	pool->conns = calloc(size, sizeof(PoolConn));
	for (int i = 0; i < size; i++)
	{
		pool->conns[i].pool = pool;
		conn_start(&pool->conns[i]);
	}
	return pool;
}

void
nx_pool_free(Pool *pool)
{
	PoolJob    *job;

	if (pool == NULL)
		return;
	for (int i = 0; i < pool->size; i++)
	{
		PoolConn   *c = &pool->conns[i];

		if (c->ev)
			event_free(c->ev);
		if (c->retry)
			event_free(c->retry);
		if (c->job)
		{
			c->job->reply.failed = true;
			job_finish(c->job);
		}
		PQfinish(c->pg);
		prepared_forget_all(c);
	}
	while ((job = pool->head) != NULL)
	{
		pool->head = job->next;
		job->reply.failed = true;
		job_finish(job);
	}
	free(pool->conns);
	free(pool->conninfo);
	free(pool->listen_sql);
	free(pool);
}

NxPoolSubmit
nx_pool_submit(Pool *pool, const PoolStmt *stmts, int nstmts, PoolCallback cb, void *arg)
{
	return nx_pool_submit_at(pool, stmts, nstmts, cb, arg, false);
}

NxPoolSubmit
nx_pool_submit_at(Pool *pool, const PoolStmt *stmts, int nstmts, PoolCallback cb, void *arg,
				  bool first)
{
	PoolJob    *job;
	bool		any = false;

	for (int i = 0; i < pool->size; i++)
		any |= pool->conns[i].state != NX_CONN_DOWN;
	if (!any)
		return NX_SUBMIT_DOWN;
	if (pool->queued >= pool->queue_max || nstmts < 1 || nstmts > NX_POOL_MAX_STMTS)
		return NX_SUBMIT_FULL;
	job = calloc(1, sizeof(PoolJob));
	job->nstmts = nstmts;
	job->reply.nstmts = nstmts;
	job->cb = cb;
	job->arg = arg;
	for (int i = 0; i < nstmts; i++)
	{
		job->sql[i] = strdup(stmts[i].sql);
		job->nparams[i] = stmts[i].nparams;
		for (int j = 0; j < stmts[i].nparams; j++)
			job->values[i][j] = dup_or_null(stmts[i].values[j]);
	}
	if (first && pool->head)
	{
		job->next = pool->head;
		pool->head = job;
	}
	else
	{
		if (pool->tail)
			pool->tail->next = job;
		else
			pool->head = job;
		pool->tail = job;
	}
	pool->queued++;
	conn_dispatch(pool);
	return NX_SUBMIT_QUEUED;
}

static void
listen_done(PoolReply *reply, void *arg)
{
	Pool	   *pool = arg;

	if (reply->failed || nx_pool_first_error(reply))
	{
		nx_log("error", "cannot LISTEN for events");
		return;
	}
	pool->notify(NULL, pool->notify_arg);
}

static PoolJob *
listen_job(Pool *pool)
{
	PoolJob    *job = calloc(1, sizeof(PoolJob));

	job->nstmts = job->reply.nstmts = 1;
	job->sql[0] = strdup(pool->listen_sql);
	job->cb = listen_done;
	job->arg = pool;
	return job;
}

void
nx_pool_listen(Pool *pool, const char *channel, PoolNotify notify, void *arg)
{
	char		sql[128];

	snprintf(sql, sizeof(sql), "LISTEN %s", channel);
	pool->listen_sql = strdup(sql);
	pool->notify = notify;
	pool->notify_arg = arg;
}

int
nx_pool_connected(const Pool *pool)
{
	int			n = 0;

	for (int i = 0; i < pool->size; i++)
		if (pool->conns[i].state == NX_CONN_IDLE || pool->conns[i].state == NX_CONN_BUSY)
			n++;
	return n;
}

const PoolStmtResult *
nx_pool_first_error(const PoolReply *reply)
{
	for (int i = 0; i < reply->nstmts; i++)
		if (!reply->r[i].ok && !reply->r[i].skipped)
			return &reply->r[i];
	return NULL;
}
