/* SPDX-License-Identifier: MIT */
/*
 * zpsictl - ask zpsid: status, guests, guest NAME, wake NAME,
 * set NAME KEY VALUE, and top (a live table).  --json prints zpsid's reply
 * as it came for every read command, for scripts.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "zpsi/ctl.h"
#include "zpsi/util.h"

/* --json: times in seconds since 1970 need 15 digits to keep the second */
#define JSON_OUT (JSON_INDENT(2) | JSON_REAL_PRECISION(15))

static const char *sock_path = ZPSI_CTL_DEFAULT_SOCKET;
static bool as_json;
static int timeout_ms = 15000;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zpsictl [-s|--socket PATH] [-j|--json] [-t|--timeout MS] COMMAND\n\n"
		"  status                 aggregate PSI and every guest\n"
		"  guests                 every guest\n"
		"  guest NAME             one guest, with its recent decisions\n"
		"  wake NAME              wake a guest to C0 (waits for its VMM)\n"
		"  set NAME KEY VALUE     weight 1..65535 | power C0|C3|C6 | memory_target BYTES|auto\n"
		"  top [-i|--interval SECONDS] [-n|--count COUNT]\n"
		"                         a live table, 'q' quits (-n 0: until then)\n\n"
		"Options may also follow the command (zpsictl status --json); -h, --help: this text.\n"
		"--socket defaults to /run/zpsi/zpsid.sock, --timeout to 15000 ms, -i to 1 s.\n"
		"Exit status: 0 done, 1 zpsid refused or cannot be reached, 2 usage.\n");
}

static int request(int fd, enum zpsi_ctl_type t, const char *name, const char *key,
		   const char *value, json_t **reply)
{
	struct zpsi_ctl_msg q = { .type = t };

	if (name && snprintf(q.u.query.name, sizeof(q.u.query.name), "%s", name) >= (int)sizeof(q.u.query.name))
		return -ENAMETOOLONG;
	if (key)
		snprintf(q.u.query.key, sizeof(q.u.query.key), "%s", key);
	if (value)
		snprintf(q.u.query.value, sizeof(q.u.query.value), "%s", value);
	return zpsi_ctl_request(fd, &q, timeout_ms, reply);
}

static double num(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static void human_bytes(double b, char *buf, size_t cap)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (b >= 1024 && u + 1 < ZPSI_ARRAY_SIZE(units)) {
		b /= 1024;
		u++;
	}
	snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(str(*(json_t *const *)a, "name"), str(*(json_t *const *)b, "name"));
}

static void print_table(json_t *guests, FILE *f)
{
	size_t n = json_array_size(guests);
	json_t **v = calloc(n ? n : 1, sizeof(*v));

	fprintf(f, "%-20s %-4s %7s %4s %6s %15s %10s %6s %s\n", "NAME", "PWR", "PSI%", "TIER", "SHARE%",
		"CPU us/period", "MEM-TARGET", "WEIGHT", "STATE");
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(guests, i);
	qsort(v, n, sizeof(*v), by_name);
	for (size_t i = 0; i < n; i++) {
		json_t *g = v[i];
		char cpu[32], mem[16];

		snprintf(cpu, sizeof(cpu), "%.0f/%.0f", num(g, "cpu_quota_us"), num(g, "cpu_period_us"));
		human_bytes(num(g, "memory_target_bytes"), mem, sizeof(mem));
		fprintf(f, "%-20s %-4s %7.2f %4.0f %6.1f %15s %10s %6.0f %s%s%s\n", str(g, "name"),
			str(g, "power_state"), 100 * num(g, "psi"), num(g, "tier"), 100 * num(g, "share"),
			cpu, mem, num(g, "weight"),
			json_is_true(json_object_get(g, "connected")) ? "connected" : "detached",
			json_is_true(json_object_get(g, "enforced")) ? "" : ",not-enforced",
			json_object_get(g, "pending") ? ",pending" : "");
	}
	free(v);
}

static void print_status(json_t *r, FILE *f)
{
	fprintf(f, "aggregate PSI %.2f %%   guests %.0f (%.0f connected)   sampling %.0f Hz   cgroups %s %s   up %.0f s\n\n",
		100 * num(r, "aggregate_psi"), num(r, "count"), num(r, "connected"), num(r, "sample_hz"),
		str(r, "cgroup_mode"), str(r, "cgroup_parent"), num(r, "uptime_seconds"));
	print_table(json_object_get(r, "guests"), f);
}

static void print_guest(json_t *g)
{
	char mem[16];
	json_t *dec = json_object_get(g, "decisions");

	human_bytes(num(g, "memory_target_bytes"), mem, sizeof(mem));
	printf("%s (id %.0f, pid %.0f, %s)\n", str(g, "name"), num(g, "id"), num(g, "pid"),
	       json_is_true(json_object_get(g, "connected")) ? "connected" : "detached");
	printf("  psi          %.2f %%   (committed %.0f, deferred %.0f)\n", 100 * num(g, "psi"),
	       num(g, "committed"), num(g, "deferred"));
	printf("  weight       %.0f   vcpus %.0f   memory %.0f bytes\n", num(g, "weight"), num(g, "vcpus"),
	       num(g, "memory_bytes"));
	printf("  power        %s%s%s\n", str(g, "power_state"), json_object_get(g, "pending") ? " -> " : "",
	       json_object_get(g, "pending") ? str(g, "pending") : "");
	printf("  decision     tier %.0f, share %.1f %%, cpu %.0f/%.0f us, memory target %s\n",
	       num(g, "tier"), 100 * num(g, "share"), num(g, "cpu_quota_us"), num(g, "cpu_period_us"), mem);
	printf("  cgroup       %s (%s)\n", str(g, "cgroup"),
	       json_is_true(json_object_get(g, "enforced")) ? "enforced" : "not enforced");
	printf("  samples      %.0f accepted, %.0f torn, %.0f rejected\n", num(g, "samples_total"),
	       num(g, "samples_torn_total"), num(g, "samples_rejected_total"));
	printf("  recent decisions:\n");
	for (size_t i = 0; i < json_array_size(dec); i++) {
		json_t *x = json_array_get(dec, i);
		time_t t = (time_t)num(x, "time");
		char when[32];

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
		printf("    %s  psi %6.2f %%  tier %.0f  share %5.1f %%  cpu %.0f us  mem %.0f  %s%s%s\n", when,
		       100 * num(x, "psi"), num(x, "tier"), 100 * num(x, "share"), num(x, "cpu_quota_us"),
		       num(x, "memory_target_bytes"), str(x, "power_state"),
		       json_is_null(json_object_get(x, "error")) ? "" : "  error ",
		       json_is_null(json_object_get(x, "error")) ? "" : str(x, "error"));
	}
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	if (isatty(STDOUT_FILENO))
		fputs("\033[?25h", stdout);	/* cursor back */
}

static int top(int fd, double interval, long count)
{
	bool tty = isatty(STDOUT_FILENO);

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		struct termios raw = saved_tio;

		raw.c_lflag &= ~(ICANON | ECHO);
		tio_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	atexit(restore_tty);
	for (long i = 0; (count <= 0 || i < count) && !interrupted; i++) {
		json_t *r = NULL;
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int rc = request(fd, ZPSI_CTL_STATUS, NULL, NULL, NULL, &r);
		time_t now = time(NULL);
		char when[32];

		if (rc < 0) {
			fprintf(stderr, "zpsictl: status: %s\n", strerror(-rc));
			json_decref(r);
			return 1;
		}
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
		if (tty)
			fputs("\033[H\033[2J\033[?25l", stdout);	/* home, clear, hide cursor */
		printf("zpsictl top - %s - every %.1f s, q quits\n", when, interval);
		print_status(r, stdout);
		fflush(stdout);
		json_decref(r);
		if (count > 0 && i + 1 >= count)
			break;
		if (poll(&p, tio_saved ? 1 : 0, (int)(interval * 1000)) > 0) {
			char c;

			if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q'))
				break;
		}
	}
	return 0;
}

static bool command_ok(const char *cmd, int nargs)
{
	static const struct { const char *name; int nargs; } cmds[] = {
		{ "status", 0 }, { "guests", 0 }, { "guest", 1 }, { "wake", 1 }, { "set", 3 },
	};

	for (unsigned i = 0; i < ZPSI_ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmd, cmds[i].name))
			return nargs == cmds[i].nargs;
	return false;
}

static int connect_to_zpsid(int *fd)
{
	int r = zpsi_ctl_connect(sock_path, fd);

	if (r < 0)
		fprintf(stderr, "zpsictl: cannot connect to %s: %s\n", sock_path, strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	_cleanup_close_ int fd = -1;
	json_t *reply = NULL;
	const char *cmd;
	double interval = 1.0;
	long count = 0;
	bool top_opt = false;
	int c, r;

	/* options may stand before or after the command: zpsictl status --json */
	while ((c = getopt_long(argc, argv, "s:jt:hi:n:", opts, NULL)) != -1) {
		char *end;
		long v;

		switch (c) {
		case 's': sock_path = optarg; break;
		case 'j': as_json = true; break;
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 3600000) {
				fprintf(stderr, "zpsictl: --timeout wants milliseconds, 1..3600000: '%s'\n",
					optarg);
				return 2;
			}
			timeout_ms = (int)v;
			break;
		case 'i':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(interval >= 0.1 && interval <= 3600)) {
				fprintf(stderr, "zpsictl: top: --interval wants seconds, 0.1..3600: '%s'\n", optarg);
				return 2;
			}
			top_opt = true;
			break;
		case 'n':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || count < 0) {
				fprintf(stderr, "zpsictl: top: --count wants a number, 0 for no end: '%s'\n", optarg);
				return 2;
			}
			top_opt = true;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	/* a usage error is one before anything is asked of zpsid */
	if (!strcmp(cmd, "top") ? optind != argc : !command_ok(cmd, argc - optind)) {
		fprintf(stderr, "zpsictl: '%s' with %d argument%s is not a command\n", cmd, argc - optind,
			argc - optind == 1 ? "" : "s");
		usage(stderr);
		return 2;
	}
	if (top_opt && strcmp(cmd, "top") != 0) {
		fprintf(stderr, "zpsictl: --interval and --count are for 'top'\n");
		return 2;
	}
	if (!strcmp(cmd, "top")) {
		if ((r = connect_to_zpsid(&fd)) < 0)
			return 1;
		signal(SIGINT, on_sigint);	/* the loop ends, atexit restores the terminal */
		return top(fd, interval, count);
	}
	if ((r = connect_to_zpsid(&fd)) < 0)
		return 1;
	if (!strcmp(cmd, "status") && optind == argc)
		r = request(fd, ZPSI_CTL_STATUS, NULL, NULL, NULL, &reply);
	else if (!strcmp(cmd, "guests") && optind == argc)
		r = request(fd, ZPSI_CTL_GUESTS, NULL, NULL, NULL, &reply);
	else if (!strcmp(cmd, "guest") && optind + 1 == argc)
		r = request(fd, ZPSI_CTL_GUEST, argv[optind], NULL, NULL, &reply);
	else if (!strcmp(cmd, "wake") && optind + 1 == argc)
		r = request(fd, ZPSI_CTL_WAKE, argv[optind], NULL, NULL, &reply);
	else if (!strcmp(cmd, "set") && optind + 3 == argc)
		r = request(fd, ZPSI_CTL_SET, argv[optind], argv[optind + 1], argv[optind + 2], &reply);
	else {
		usage(stderr);
		return 2;
	}
	if (r < 0) {
		if (as_json && reply)
			json_dumpf(reply, stdout, JSON_OUT), putchar('\n');
		fprintf(stderr, "zpsictl: %s: %s%s%s\n", cmd, strerror(-r),
			reply ? ": " : "", reply ? str(reply, "message") : "");
		json_decref(reply);
		return 1;
	}
	if (as_json) {
		json_dumpf(reply, stdout, JSON_OUT);
		putchar('\n');
	} else if (!strcmp(cmd, "status"))
		print_status(reply, stdout);
	else if (!strcmp(cmd, "guests"))
		print_table(json_object_get(reply, "guests"), stdout);
	else
		print_guest(json_object_get(reply, "guest"));
	json_decref(reply);
	return 0;
}
