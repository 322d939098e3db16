/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c - run a libFuzzer harness over every file of its corpus, so
 * the corpus is replayed as an ordinary test in every build (including the
 * sanitizer build).  Usage: replay_NAME DIR|FILE...
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "zpsi/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (16u << 20)

static int replay_file(const char *path)
{
	_cleanup_free_ uint8_t *buf = NULL;
	FILE *f;
	long n;

	f = fopen(path, "rb");
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return -EIO;
	}
	if ((unsigned long)n > REPLAY_MAX_INPUT) {
		fclose(f);
		return -EFBIG;
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	return 0;
}

static int replay_path(const char *path, unsigned *count)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		r = replay_file(path);
		if (r == 0)
			(*count)++;
		return r;
	}
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char sub[4096];

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= sizeof(sub)) {
			r = -ENAMETOOLONG;
			break;
		}
		r = replay_path(sub, count);
		if (r < 0) {
			fprintf(stderr, "replay: %s: %s\n", sub, strerror(-r));
			break;
		}
	}
	closedir(d);
	return r;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int r = replay_path(argv[i], &count);

		if (r < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-r));
			return 1;
		}
	}
	if (count == 0) {
		fprintf(stderr, "replay: no inputs found: the corpus is missing\n");
		return 1;
	}
	printf("replayed %u inputs\n", count);
	return 0;
}
