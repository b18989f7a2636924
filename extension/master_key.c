/*-------------------------------------------------------------------------
 *
 * master_key.c
 *	  The vault master key: read once, in the postmaster, from the file
 *	  named by nexplane.master_key_file or from NEXPLANE_SECRET_KEY in its
 *	  environment (then wiped where /proc/<pid>/environ shows it), and kept
 *	  only in process memory that is locked against swap and left out of
 *	  core dumps.  Backends inherit it by fork.  A missing or unreadable key
 *	  is remembered and reported, clearly, at the first use.
 *
 *	  While the master key rotates, the previous one is loaded too
 *	  (nexplane.previous_master_key_file), to unwrap what it wrapped.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "guc.h"

#include "master_key.h"

#include <sys/mman.h>
#include <unistd.h>

#include "lib/stringinfo.h"
#include "utils/guc.h"

#include <openssl/evp.h>

#define NX_MASTER_MIN 32
#define NX_MASTER_MAX 4096


static NxMasterKey master = {0};
static NxMasterKey previous = {0};

/* Page-aligned memory kept out of swap and core dumps, never freed. */
void *
nx_locked_alloc(size_t len)
{
	long		page = sysconf(_SC_PAGESIZE);
	size_t		size = ((len + page - 1) / page) * page;
	void	   *p = NULL;

	if (posix_memalign(&p, page, size) != 0)
		return NULL;
	memset(p, 0, size);
	(void) mlock(p, size);		/* best effort: RLIMIT_MEMLOCK may refuse */
#ifdef MADV_DONTDUMP
	(void) madvise(p, size, MADV_DONTDUMP);
#endif
	return p;
}

static void
nx_master_fingerprint(NxMasterKey *k)
{
	static const char label[] = "nexplane master key id";
	unsigned char mac[32];
	size_t		maclen = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->secret, k->len,
				  (const unsigned char *) label, sizeof(label) - 1,
				  mac, sizeof(mac), &maclen) == NULL)
	{
		snprintf(k->error, sizeof(k->error), "could not fingerprint the master key");
		return;
	}
	for (int i = 0; i < 8; i++)
		snprintf(k->id + 2 * i, 3, "%02x", mac[i]);
}

static void
nx_master_take(NxMasterKey *k, const char *data, size_t len, const char *source)
{
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
					   data[len - 1] == ' '))
		len--;
	if (len < NX_MASTER_MIN)
	{
		snprintf(k->error, sizeof(k->error),
				 "the master key from %s is shorter than %d bytes", source, NX_MASTER_MIN);
		return;
	}
	k->secret = nx_locked_alloc(len);
	if (k->secret == NULL)
	{
		snprintf(k->error, sizeof(k->error), "out of memory reading the master key");
		return;
	}
	memcpy(k->secret, data, len);
	k->len = len;
	nx_master_fingerprint(k);
}

static void
nx_master_load_file(NxMasterKey *k, const char *path)
{
	char		buf[NX_MASTER_MAX + 1];
	FILE	   *f = fopen(path, "r");
	size_t		n;

	if (f == NULL)
	{
		snprintf(k->error, sizeof(k->error), "could not open master key file \"%s\": %s",
				 path, strerror(errno));
		return;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n > NX_MASTER_MAX)
		snprintf(k->error, sizeof(k->error), "master key file \"%s\" is larger than %d bytes",
				 path, NX_MASTER_MAX);
	else
		nx_master_take(k, buf, n, path);
	explicit_bzero(buf, sizeof(buf));
}

/*
 * Zero NAME's value where the kernel shows it in /proc/<pid>/environ: the
 * original environment block, which PostgreSQL's process-title code has
 * copied away from (so getenv() no longer points into it).  The block's
 * bounds are fields 50 and 51 of /proc/self/stat.
 */
static void
nx_wipe_original_environ(const char *name)
{
	char		line[2048];
	FILE	   *f = fopen("/proc/self/stat", "r");
	char	   *p;
	unsigned long start = 0;
	unsigned long end = 0;
	size_t		namelen = strlen(name);

	if (f == NULL)
		return;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return;
	/* p walks the spaces: after step k it stands before field k */
	for (int field = 3; field <= 51 && p; field++)
	{
		p = strchr(p + 1, ' ');
		if (p && field == 50)
			start = strtoul(p + 1, NULL, 10);
		else if (p && field == 51)
			end = strtoul(p + 1, NULL, 10);
	}
	if (start == 0 || end <= start)
		return;
	for (char *s = (char *) start; s < (char *) end; s += strlen(s) + 1)
		if (strncmp(s, name, namelen) == 0 && s[namelen] == '=')
			explicit_bzero(s + namelen + 1, strlen(s + namelen + 1));
}

void
nx_master_key_init(void)
{
	char	   *env;

	if (!process_shared_preload_libraries_in_progress)
		return;

	env = getenv("NEXPLANE_SECRET_KEY");
	if (nx_master_key_file && nx_master_key_file[0])
		nx_master_load_file(&master, nx_master_key_file);
	else if (env && env[0])
		nx_master_take(&master, env, strlen(env), "NEXPLANE_SECRET_KEY");
	else
		snprintf(master.error, sizeof(master.error), "no master key is configured");
	/* wipe the variable, in the copy and in the block the kernel shows */
	if (env)
		explicit_bzero(env, strlen(env));
	nx_wipe_original_environ("NEXPLANE_SECRET_KEY");
	if (nx_previous_master_key_file && nx_previous_master_key_file[0])
		nx_master_load_file(&previous, nx_previous_master_key_file);
}

const NxMasterKey *
nx_master_require(void)
{
	if (master.secret == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("the credential vault is not available"),
				 errdetail("%s.", master.error[0] ? master.error : "no master key is loaded"),
				 errhint("Set nexplane.master_key_file (or NEXPLANE_SECRET_KEY) and restart the server.")));
	return &master;
}

/* The loaded key with this fingerprint (current or previous), or NULL. */
const NxMasterKey *
nx_master_find(const char *id)
{
	nx_master_require();
	if (strcmp(id, master.id) == 0)
		return &master;
	if (previous.secret && strcmp(id, previous.id) == 0)
		return &previous;
	return NULL;
}

/* For error details: the fingerprints the server has. */
const char *
nx_master_loaded_ids(void)
{
	return previous.secret ? psprintf("%s and previous key %s", master.id, previous.id) :
		psprintf("%s", master.id);
}
