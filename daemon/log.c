/* SPDX-License-Identifier: MIT */
/*
 * log.c - log lines on stderr with syslog priority prefixes ("<6>text"),
 * the form journald turns back into priorities (sd-daemon(3)), so zpsid
 * needs no syslog connection under systemd and stays readable in a terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "zpsid.h"
#include "zpsi/util.h"

static int max_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_set_level(int level)
{
	max_level = level;
}

int log_level_from_name(const char *s)
{
	for (unsigned i = 0; i < ZPSI_ARRAY_SIZE(level_names); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *log_level_name(int level)
{
	return level >= 0 && level < (int)ZPSI_ARRAY_SIZE(level_names) ? level_names[level] : "invalid";
}

void log_msg(int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int saved = errno, n;

	if (prio > max_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	/* one write per line, so lines from a crash are never interleaved */
	fprintf(stderr, "<%d>%s\n", prio, line);
	errno = saved;
}
