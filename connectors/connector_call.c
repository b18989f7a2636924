/*-------------------------------------------------------------------------
 *
 * connector_call.c
 *	  What every connector operation uses: progress and cancellation, the
 *	  time left before the call's deadline, and failure reports.
 *
 *-------------------------------------------------------------------------
 */
#include "connector.h"

#include "utils/timestamp.h"

#include <limits.h>

bool
nx_connector_step(const NxConnectorCall *call, int percent, const char *step)
{
	if (call->step == NULL)
		return true;
	return call->step(call, percent, step);
}

/*
 * Milliseconds left before the deadline, at least 1, for the client
 * libraries' connect and read timeouts.
 */
int
nx_connector_timeout_ms(const NxConnectorCall *call)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		left;

	if (call->deadline <= now)
		return 1;
	left = (call->deadline - now) / 1000;
	return left > INT_MAX ? INT_MAX : Max((int) left, 1);
}

void
nx_connector_fail(NxConnectorResult *out, const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	out->ok = false;
	out->error = pstrdup(buf);
}
