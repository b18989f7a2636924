/*-------------------------------------------------------------------------
 *
 * nexplane.c
 *	  Module entry: configuration parameters, shared memory, workers and
 *	  callbacks, set up once when the library is loaded.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "jobs.h"
#include "context.h"
#include "login_throttle.h"
#include "master_key.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* _PG_init wires the parts together; each part says what it needs. */
void
_PG_init(void)
{
	nx_guc_define();
	nx_master_key_init();
	nx_launcher_register();
	nx_context_init();
	nx_utility_hook_install();
	if (process_shared_preload_libraries_in_progress)
	{
		nx_throttle_init();
		nx_jobs_shmem_init();
		nx_sequencer_shmem_init();
	}
}
