/*
 * pool.h -- a fixed pool of libpq connections driven by the event loop.
 *
 * A job is up to NX_POOL_MAX_STMTS statements sent in pipeline mode and
 * closed by one Sync: one round trip, one implicit transaction.  If one
 * statement fails the rest are skipped and the transaction rolls back.
 */
#ifndef NX_POOL_H
#define NX_POOL_H

#include <event2/event.h>
#include <stdbool.h>

#include "errors.h"

#define NX_POOL_MAX_STMTS 3
#define NX_POOL_MAX_PARAMS 8

typedef struct PoolStmt {
	const char *sql;
	int			nparams;
	const char *values[NX_POOL_MAX_PARAMS];	/* copied by pool_submit */
} PoolStmt;

typedef struct PoolStmtResult {
	bool		ok;			/* ran and returned */
	bool		skipped;	/* not run: an earlier statement failed */
	char	   *value;		/* first column of the first row; NULL if none or SQL NULL */
	DbError		error;		/* when !ok && !skipped */
} PoolStmtResult;

typedef struct PoolReply {
	bool		failed;		/* no answer: the connection broke or none is up */
	int			nstmts;
	PoolStmtResult r[NX_POOL_MAX_STMTS];
	double		db_ms;		/* from send to the Sync's answer */
} PoolReply;

/* Called once per job; the reply is freed after the callback returns. */
typedef void (*PoolCallback) (PoolReply *reply, void *arg);

typedef struct Pool Pool;

Pool	   *nx_pool_new(struct event_base *base, const char *conninfo, int size,
						int queue_max, int statement_timeout_ms);
void		nx_pool_free(Pool *pool);

typedef enum NxPoolSubmit {
	NX_SUBMIT_QUEUED,	/* cb will be called, possibly before nx_pool_submit returns */
	NX_SUBMIT_FULL,		/* the wait queue is full; no callback */
	NX_SUBMIT_DOWN,		/* no connection is up; no callback */
} NxPoolSubmit;

NxPoolSubmit nx_pool_submit(Pool *pool, const PoolStmt *stmts, int nstmts,
							PoolCallback cb, void *arg);
/*
 * The same, but with first the job goes ahead of every job waiting: for
 * work someone is waiting on now (an agent's wake-up), which must not
 * queue behind a burst of routine calls (its fleet's re-polls).
 */
NxPoolSubmit nx_pool_submit_at(Pool *pool, const PoolStmt *stmts, int nstmts,
							   PoolCallback cb, void *arg, bool first);

int			nx_pool_connected(const Pool *pool);

/*
 * Make every connection of the pool LISTEN on channel (use a pool of one).
 * notify gets each notification's payload, and NULL after each (re)connect:
 * notifications may have been missed, so catch up.
 */
typedef void (*PoolNotify) (const char *payload, void *arg);
void		nx_pool_listen(Pool *pool, const char *channel, PoolNotify notify, void *arg);

/* The first statement's result, or the first error among the statements. */
const PoolStmtResult *nx_pool_first_error(const PoolReply *reply);

#endif
