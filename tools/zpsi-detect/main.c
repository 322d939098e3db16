/* SPDX-License-Identifier: MIT */
/*
 * zpsi-detect - which hypervisor, which cloud, and the PSI interface.
 *
 * Like systemd-detect-virt --vm: prints one word and exits 0 inside a
 * guest, 1 outside.  --json prints everything with the evidence; --sysroot
 * reads a captured tree instead of this machine (zpsi-detect(1)).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/detect.h"
#include "zpsi/util.h"

#ifndef ZPSI_VERSION
#define ZPSI_VERSION "unknown"
#endif

#define EXIT_GUEST	0
#define EXIT_NOT_GUEST	1
#define EXIT_ERROR	2

enum mode { MODE_WORD, MODE_CLOUD, MODE_JSON, MODE_CPUID_JSON };

static void usage(FILE *f)
{
	fputs("Usage: zpsi-detect [OPTION]...\n"
	      "Detect the hypervisor, the cloud and the PSI interface.\n"
	      "\n"
	      "  -j, --json            print everything as JSON, with the evidence\n"
	      "  -c, --cloud           print the cloud (exit 0 when there is one)\n"
	      "      --cpuid-json      print only the CPUID scan (the guest payload's JSON)\n"
	      "  -r, --sysroot DIR     read files under DIR, CPUID from DIR/cpuid.txt\n"
	      "                        (`cpuid -r -1` output), sysctl values from DIR/sysctl.txt\n"
	      "  -q, --quiet           print nothing; the exit status tells\n"
	      "      --list            list hypervisor names\n"
	      "      --list-clouds     list cloud names\n"
	      "      --list-signatures list the CPUID signatures known\n"
	      "  -h, --help            show this help\n"
	      "      --version         show the version\n"
	      "\n"
	      "Exit status: 0 in a guest (with --cloud: on a cloud), 1 otherwise, 2 on error.\n",
	      f);
}

static void print_list(const char *const *names)
{
	for (; *names; names++)
		puts(*names);
}

static void print_signatures(void)
{
	for (size_t i = 0; i < zpsi_cpuid_sig_count(); i++) {
		const struct zpsi_cpuid_sig *s = zpsi_cpuid_sig_at(i);
		char shown[ZPSI_CPUID_SIG_LEN * 2 + 3];
		size_t o = 0;

		/* Quoted, NUL padding as \0: the exact 12 bytes, spaces too. */
		shown[o++] = '"';
		for (size_t k = 0; k < ZPSI_CPUID_SIG_LEN; k++) {
			if (s->sig[k]) {
				shown[o++] = s->sig[k];
			} else {
				shown[o++] = '\\';
				shown[o++] = '0';
			}
		}
		shown[o++] = '"';
		shown[o] = 0;
		printf("%-28s %-10s %s\n", shown, s->name ? s->name : "(psi)", s->what);
	}
}

int main(int argc, char **argv)
{
	enum { OPT_LIST = 0x100, OPT_LIST_CLOUDS, OPT_LIST_SIGS, OPT_VERSION, OPT_CPUID_JSON };
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "cloud", no_argument, NULL, 'c' },
		{ "cpuid-json", no_argument, NULL, OPT_CPUID_JSON },
		{ "sysroot", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "list-clouds", no_argument, NULL, OPT_LIST_CLOUDS },
		{ "list-signatures", no_argument, NULL, OPT_LIST_SIGS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct zpsi_detect_source *src = NULL;
	_cleanup_free_ struct zpsi_detect_result *res = NULL;
	_cleanup_free_ char *json = NULL;
	const char *sysroot = NULL;
	enum mode mode = MODE_WORD;
	bool quiet = false, guest;
	int c, r;

	while ((c = getopt_long(argc, argv, "jcr:qh", options, NULL)) != -1) {
		switch (c) {
		case 'j': mode = MODE_JSON; break;
		case 'c': mode = MODE_CLOUD; break;
		case OPT_CPUID_JSON: mode = MODE_CPUID_JSON; break;
		case 'r': sysroot = optarg; break;
		case 'q': quiet = true; break;
		case OPT_LIST: print_list(zpsi_detect_hypervisor_names()); return 0;
		case OPT_LIST_CLOUDS: print_list(zpsi_detect_cloud_names()); return 0;
		case OPT_LIST_SIGS: print_signatures(); return 0;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("zpsi-detect %s\n", ZPSI_VERSION); return 0;
		default: usage(stderr); return EXIT_ERROR;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "zpsi-detect: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_ERROR;
	}

	r = sysroot ? zpsi_detect_source_sysroot(sysroot, &src) : zpsi_detect_source_live(&src);
	if (r < 0) {
		if (r == -EBADMSG)
			fprintf(stderr, "zpsi-detect: %s/cpuid.txt: no line in the `cpuid -r -1` format "
				"(\"   0x00000000 0x00: eax=0x... ebx=0x... ecx=0x... edx=0x...\")\n",
				sysroot);
		else
			fprintf(stderr, "zpsi-detect: %s: %s\n", sysroot ? sysroot : "live", strerror(-r));
		return EXIT_ERROR;
	}
	r = zpsi_detect_run(src, &res);
	src = zpsi_detect_source_free(src);
	if (r < 0) {
		fprintf(stderr, "zpsi-detect: detection failed: %s\n", strerror(-r));
		return EXIT_ERROR;
	}

	guest = mode == MODE_CLOUD ? strcmp(res->cloud, "none") != 0 : res->virtualized;
	if (quiet)
		return guest ? EXIT_GUEST : EXIT_NOT_GUEST;

	switch (mode) {
	case MODE_WORD:
		puts(res->hypervisor);
		break;
	case MODE_CLOUD:
		puts(res->cloud);
		break;
	case MODE_JSON:
		r = zpsi_detect_to_json(res, &json);
		if (r < 0) {
			fprintf(stderr, "zpsi-detect: JSON output: %s\n", strerror(-r));
			return EXIT_ERROR;
		}
		puts(json);
		break;
	case MODE_CPUID_JSON: {
		size_t need;

		if (!res->have_cpuid) {
			fprintf(stderr, "zpsi-detect: no CPUID on this input\n");
			return EXIT_ERROR;
		}
		need = zpsi_cpuid_to_json(&res->cpuid, NULL, 0);
		json = malloc(need + 1);
		if (!json) {
			fprintf(stderr, "zpsi-detect: %s\n", strerror(ENOMEM));
			return EXIT_ERROR;
		}
		zpsi_cpuid_to_json(&res->cpuid, json, need + 1);
		puts(json);
		break;
	}
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "zpsi-detect: write error\n");
		return EXIT_ERROR;
	}
	return guest ? EXIT_GUEST : EXIT_NOT_GUEST;
}
