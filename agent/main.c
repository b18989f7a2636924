/*
 * main.c -- nexplane-agent's command line: enroll once, then run as a
 * service.  Everything else is in the files named in agent.h.
 */
#include "agent.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

static void
usage(FILE *f)
{
	fprintf(f,
			"usage:\n"
			"  nexplane-agent enroll --url URL --token TOKEN --ca-pin sha256:HEX\n"
			"                        [--state-dir DIR] [--key-type ec|rsa]\n"
			"      fetch the agent CA from URL and check it against the pin, make a key\n"
			"      pair in DIR (default /var/lib/nexplane-agent; EC P-256 unless rsa),\n"
			"      enroll with the one-time token and store the certificate\n"
			"  nexplane-agent run [--config FILE] [--once]\n"
			"      long-poll the shim for commands and run them (default config\n"
			"      /etc/nexplane/agent.conf); --once stops after one poll\n"
			"  nexplane-agent renew [--config FILE]\n"
			"      renew the certificate now, with a new key (the service renews by\n"
			"      itself when a third of the certificate's life is left)\n"
			"  nexplane-agent version\n");
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *token = NULL, *pin = NULL, *key_type = "ec";
	const char *state_dir = "/var/lib/nexplane-agent", *config = "/etc/nexplane/agent.conf";
	bool once = false;
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},		 {"token", required_argument, NULL, 't'},
		{"ca-pin", required_argument, NULL, 'p'},	 {"state-dir", required_argument, NULL, 's'},
		{"key-type", required_argument, NULL, 'k'}, {"config", required_argument, NULL, 'c'},
		{"once", no_argument, NULL, 'o'},			 {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *verb;
	int ch, rc;

	if (argc < 2)
	{
		usage(stderr);
		return 2;
	}
	verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "help") == 0)
	{
		usage(stdout);
		return 0;
	}
	if (strcmp(verb, "version") == 0)
	{
		printf("nexplane-agent %s\n", NX_AGENT_VERSION);
		return 0;
	}
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (ch)
		{
			case 'u':
				url = optarg;
				break;
			case 't':
				token = optarg;
				break;
			case 'p':
				pin = optarg;
				break;
			case 's':
				state_dir = optarg;
				break;
			case 'k':
				key_type = optarg;
				break;
			case 'c':
				config = optarg;
				break;
			case 'o':
				once = true;
				break;
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
		}
	if (optind != argc)
	{
		usage(stderr);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(verb, "enroll") == 0)
	{
		if (url == NULL || token == NULL || pin == NULL)
		{
			fprintf(stderr, "nexplane-agent enroll: --url, --token and --ca-pin are required\n");
			rc = 2;
		}
		else
			rc = nx_enroll(url, token, pin, state_dir, key_type);
	}
	else if (strcmp(verb, "run") == 0)
		rc = nx_run(config, once);
	else if (strcmp(verb, "renew") == 0)
		rc = nx_renew_now(config);
	else
	{
		usage(stderr);
		rc = 2;
	}
	curl_global_cleanup();
	return rc;
}
