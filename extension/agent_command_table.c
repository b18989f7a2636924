/*-------------------------------------------------------------------------
 *
 * agent_command_table.c
 *	  The agent's command allowlist, compiled into the extension from the
 *	  very file the agent compiles (agent/command_table.c), so that the
 *	  database and the agent cannot disagree about what is allowed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "../agent/command_table.c"
