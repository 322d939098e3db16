/* SPDX-License-Identifier: MIT */
/*
 * zpsi-migrate-info - validate a zpsi migration record and show what is in
 * it: the header, every section, and the decoded PSI state.
 *
 * The file is as untrusted as a record arriving over the network: the tool
 * reads the 32-byte header first, lets libzpsi vouch for it, and only then
 * reads the length the header declares, never more than --max-size.  A bad
 * record exits 1 with libzpsi's distinct message (truncated, foreign,
 * corrupt, unsupported, too big), in text on stderr and, with --json, also
 * as a JSON object on stdout so scripts need not parse English.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zpsi/abi.h"
#include "zpsi/crc32c.h"
#include "zpsi/le.h"
#include "zpsi/migrate.h"
#include "zpsi/util.h"

#define PROG "zpsi-migrate-info"
#define MAX_SIZE_DEFAULT (1ull << 30)

static const struct {
	uint32_t type;
	const char *name;
} section_names[] = {
	{ ZPSI_MIG_SEC_PSI, "psi" },
	{ ZPSI_MIG_SEC_VM, "vm" },
	{ ZPSI_MIG_SEC_VCPU, "vcpu" },
	{ ZPSI_MIG_SEC_MEMORY, "memory" },
};

static const struct {
	int err;
	const char *name;
} errno_names[] = {
	{ ENODATA, "ENODATA" }, { EPROTO, "EPROTO" }, { EBADMSG, "EBADMSG" },
	{ EPROTONOSUPPORT, "EPROTONOSUPPORT" }, { E2BIG, "E2BIG" }, { EINVAL, "EINVAL" },
	{ ENOMEM, "ENOMEM" }, { ENOENT, "ENOENT" }, { EACCES, "EACCES" }, { EFBIG, "EFBIG" },
	{ EIO, "EIO" }, { EISDIR, "EISDIR" }, { ENOMSG, "ENOMSG" },
};

struct opts {
	bool json;
	uint64_t max_size;
	const char *path;
};

static const char *section_name(uint32_t type)
{
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(section_names); i++)
		if (section_names[i].type == type)
			return section_names[i].name;
	return NULL;
}

static bool tool_known(uint32_t type)
{
	return section_name(type) != NULL;	/* what libzpsi and zpsi-vmm read */
}

static bool known_all(uint32_t type)
{
	(void)type;
	return true;
}

static const char *errno_name(int err)
{
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(errno_names); i++)
		if (errno_names[i].err == -err)
			return errno_names[i].name;
	return "E?";
}

/* A JSON string: quotes, backslashes, control and non-ASCII bytes escaped
 * (a file name need not be UTF-8). */
static void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20 || *c >= 0x7F)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

static void fail(const struct opts *o, const char *what, int err)
{
	fprintf(stderr, PROG ": %s: %s (%s)\n", o->path, what, errno_name(err));
	if (o->json) {
		printf("{\"file\":");
		json_string(o->path);
		printf(",\"valid\":false,\"error\":");
		json_string(what);
		printf(",\"code\":\"%s\"}\n", errno_name(err));
	}
}

/* Read exactly n bytes unless the file ends first; the count, or -errno. */
static ssize_t read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* The record, read in two bounded steps.  On error *what says why. */
static int read_record(int fd, const struct opts *o, uint8_t **out, size_t *len, const char **what)
{
	uint8_t hdr[ZPSI_MIG_HEADER_SIZE], extra;
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t total;
	ssize_t k;
	int r;

	k = read_full(fd, hdr, sizeof(hdr));
	if (k < 0)
		return *what = "read failed", (int)k;
	r = zpsi_mig_check_header(hdr, (size_t)k, &total);
	if (r < 0)
		return *what = zpsi_mig_strerror(r), r;
	if (total > o->max_size)
		return *what = "record larger than --max-size", -EFBIG;
	buf = malloc((size_t)total);
	if (!buf)
		return *what = "out of memory", -ENOMEM;
	memcpy(buf, hdr, sizeof(hdr));
	k = read_full(fd, buf + sizeof(hdr), (size_t)total - sizeof(hdr));
	if (k < 0)
		return *what = "read failed", (int)k;
	if ((size_t)k < (size_t)total - sizeof(hdr))
		return *what = zpsi_mig_strerror(-ENODATA), -ENODATA;
	k = read_full(fd, &extra, 1);
	if (k < 0)
		return *what = "read failed", (int)k;
	if (k > 0)
		return *what = "corrupt record (trailing bytes after the record)", -EBADMSG;
	*out = ZPSI_TAKE_PTR(buf);
	*len = (size_t)total;
	return 0;
}

static void print_bp(const char *label, int32_t bp)
{
	if (bp < 0)
		printf("%s invalid", label);
	else
		printf("%s %d.%02d %%", label, bp / 100, bp % 100);
}

static void print_time(uint64_t ns)
{
	time_t t = (time_t)(ns / ZPSI_NSEC_PER_SEC);
	struct tm tm;
	char buf[64];

	if (gmtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		printf(" (%s)", buf);
}

static void text_psi(const struct zpsi_psi_state *s)
{
	const uint8_t *g = s->region;
	uint64_t hi;

	printf("psi:\n");
	printf("  guest id        %" PRIu32 "%s\n", s->guest_id, s->registered ? "" : " (not registered)");
	printf("  weight          %" PRIu32 "\n", s->weight);
	printf("  power           C%u\n", s->power);
	printf("  msr state       0x%016" PRIx64 " (", s->msr_state);
	print_bp("guest", zpsi_state_guest_bp(s->msr_state));
	print_bp(", host", zpsi_state_host_bp(s->msr_state));
	printf(", C%u)\n", zpsi_state_power(s->msr_state));
	printf("  msr conf        0x%016" PRIx64 " (", s->msr_conf);
	print_bp("delta", zpsi_conf_delta_bp(s->msr_conf));
	print_bp(", threshold", zpsi_conf_thresh_bp(s->msr_conf));
	printf(")\n");
	printf("  msr stats       0x%016" PRIx64 " (committed %" PRIu32 ", deferred %" PRIu32 ")\n",
	       s->msr_stats, zpsi_stats_committed32(s->msr_stats), zpsi_stats_deferred32(s->msr_stats));
	printf("  msr ctrl        0x%016" PRIx64 " (%s%s gpa 0x%" PRIx64 ")\n", s->msr_ctrl,
	       s->msr_ctrl & ZPSI_CTRL_ENABLE ? "enabled" : "disabled",
	       s->msr_ctrl & ZPSI_CTRL_REGION ? ", region" : "", zpsi_ctrl_gpa(s->msr_ctrl));
	printf("  committed       %" PRIu64 "\n", s->committed);
	printf("  deferred        %" PRIu64 "\n", s->deferred);
	print_bp("  ratio          ", zpsi_ratio_bp(s->committed, s->deferred));
	printf(" (from the counts)\n");
	printf("  captured        %" PRIu64 " ns", s->captured_ns);
	print_time(s->captured_ns);
	printf("\n  last update     %" PRIu64 " ns before capture\n", s->last_update_age_ns);
	if (!s->region_valid) {
		printf("  region          none\n");
		return;
	}
	/* guest-written fields are shown as found, never trusted */
	printf("  region          at gpa 0x%" PRIx64 "\n", s->region_gpa);
	printf("    version       %" PRIu64 "%s\n", zpsi_get_le64(g + 0x08),
	       zpsi_get_le64(g + 0x08) & 1 ? " (odd: captured mid-write)" : "");
	print_bp("    guest ratio  ", zpsi_bp_from_f64(zpsi_get_le64(g + 0x10)));
	print_bp("\n    host ratio   ", zpsi_bp_from_f64(zpsi_get_le64(g + 0x18)));
	printf("\n    committed     %" PRIu64 "\n", zpsi_get_le64(g + 0x20));
	printf("    deferred      %" PRIu64 "\n", zpsi_get_le64(g + 0x28));
	printf("    timestamp     %" PRIu64 " ns (guest clock)\n", zpsi_get_le64(g + 0x30));
	hi = zpsi_get_le64(g + 0x38);
	printf("    host info     0x%016" PRIx64 " (revision %" PRIu64 ", flags 0x%02" PRIx64
	       ", target %" PRIu64 " pages)\n", hi, (uint64_t)(hi & ZPSI_HOSTINFO_REV_MASK),
	       (uint64_t)((hi & ZPSI_HOSTINFO_FLAGS_MASK) >> 8), zpsi_hostinfo_target_pages(hi));
}

static void json_psi(const struct zpsi_psi_state *s)
{
	const uint8_t *g = s->region;

	printf("\"psi\":{\"guest_id\":%" PRIu32 ",\"registered\":%s,\"weight\":%" PRIu32
	       ",\"power\":%u,\"msr_state\":%" PRIu64 ",\"guest_bp\":%u,\"host_bp\":%u"
	       ",\"msr_conf\":%" PRIu64 ",\"delta_bp\":%u,\"threshold_bp\":%u"
	       ",\"msr_stats\":%" PRIu64 ",\"msr_ctrl\":%" PRIu64 ",\"committed\":%" PRIu64
	       ",\"deferred\":%" PRIu64 ",\"ratio_bp\":%u,\"captured_ns\":%" PRIu64
	       ",\"last_update_age_ns\":%" PRIu64 ",\"region\":",
	       s->guest_id, s->registered ? "true" : "false", s->weight, s->power, s->msr_state,
	       zpsi_state_guest_bp(s->msr_state), zpsi_state_host_bp(s->msr_state), s->msr_conf,
	       zpsi_conf_delta_bp(s->msr_conf), zpsi_conf_thresh_bp(s->msr_conf), s->msr_stats,
	       s->msr_ctrl, s->committed, s->deferred, zpsi_ratio_bp(s->committed, s->deferred),
	       s->captured_ns, s->last_update_age_ns);
	if (!s->region_valid) {
		printf("null}");
		return;
	}
	printf("{\"gpa\":%" PRIu64 ",\"version\":%" PRIu64 ",\"guest_ratio_bp\":%" PRId32
	       ",\"host_ratio_bp\":%" PRId32 ",\"committed\":%" PRIu64 ",\"deferred\":%" PRIu64
	       ",\"timestamp_ns\":%" PRIu64 ",\"host_info\":%" PRIu64 ",\"bytes\":\"",
	       s->region_gpa, zpsi_get_le64(g + 0x08), zpsi_bp_from_f64(zpsi_get_le64(g + 0x10)),
	       zpsi_bp_from_f64(zpsi_get_le64(g + 0x18)), zpsi_get_le64(g + 0x20), zpsi_get_le64(g + 0x28),
	       zpsi_get_le64(g + 0x30), zpsi_get_le64(g + 0x38));
	for (size_t i = 0; i < sizeof(s->region); i++)
		printf("%02x", s->region[i]);
	printf("\"}}");
}

static void show(const struct opts *o, const uint8_t *buf, size_t len,
		 const struct zpsi_mig_section *secs, size_t n, const struct zpsi_psi_state *psi)
{
	uint16_t version = (uint16_t)(buf[8] | buf[9] << 8);
	uint64_t body = zpsi_get_le64(buf + 16);

	if (o->json) {
		printf("{\"file\":");
		json_string(o->path);
		printf(",\"valid\":true,\"size\":%zu,\"header\":{\"version\":%u,\"header_size\":%u"
		       ",\"flags\":%" PRIu32 ",\"body_length\":%" PRIu64 ",\"sections\":%" PRIu32
		       ",\"crc32c\":%" PRIu32 "},\"trailer_crc32c\":%" PRIu32 ",\"sections\":[",
		       len, version, (unsigned)zpsi_get_le16(buf + 10), zpsi_get_le32(buf + 12), body,
		       zpsi_get_le32(buf + 24), zpsi_get_le32(buf + 28), zpsi_get_le32(buf + len - 8));
		for (size_t i = 0; i < n; i++) {
			const char *name = section_name(secs[i].type);

			printf("%s{\"offset\":%zu,\"type\":%" PRIu32 ",\"name\":", i ? "," : "",
			       (size_t)(secs[i].data - buf) - ZPSI_MIG_SECTION_HEADER, secs[i].type);
			if (name)
				json_string(name);
			else
				printf("null");
			printf(",\"required\":%s,\"length\":%" PRIu64 "}",
			       secs[i].flags & ZPSI_MIG_SEC_REQUIRED ? "true" : "false", secs[i].len);
		}
		printf("],");
		json_psi(psi);
		printf("}\n");
		return;
	}
	printf("record: %s (%zu bytes, valid)\n", o->path, len);
	printf("header:\n  version         %u\n  body length     %" PRIu64 "\n  sections        %zu\n"
	       "  header crc32c   0x%08" PRIx32 "\n  trailer crc32c  0x%08" PRIx32 "\n",
	       version, body, n, zpsi_get_le32(buf + 28), zpsi_get_le32(buf + len - 8));
	printf("sections:\n  %-8s %-6s %-10s %-9s %s\n", "offset", "type", "name", "flags", "length");
	for (size_t i = 0; i < n; i++) {
		const char *name = section_name(secs[i].type);

		printf("  %-8zu %-6" PRIu32 " %-10s %-9s %" PRIu64 "\n",
		       (size_t)(secs[i].data - buf) - ZPSI_MIG_SECTION_HEADER, secs[i].type,
		       name ? name : "unknown", secs[i].flags & ZPSI_MIG_SEC_REQUIRED ? "required" : "optional",
		       secs[i].len);
	}
	text_psi(psi);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [--json] [--max-size BYTES] FILE|-\n"
		"\n"
		"Validate a zpsi migration record (docs/abi.md, \"Migration record\") and print\n"
		"its header, its sections and the decoded PSI state.\n"
		"\n"
		"  --json            one JSON object on stdout (also for a bad record)\n"
		"  --max-size BYTES  refuse records larger than this (default %llu)\n"
		"  -h, --help        this text\n"
		"\n"
		"Exit status: 0 a valid record, 1 a bad record or a read error, 2 bad usage.\n",
		(unsigned long long)MAX_SIZE_DEFAULT);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	o->max_size = MAX_SIZE_DEFAULT;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'm':
			errno = 0;
			o->max_size = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' ||
			    o->max_size < ZPSI_MIG_HEADER_SIZE + ZPSI_MIG_TRAILER_SIZE) {
				fprintf(stderr, PROG ": --max-size: not a size of at least 40 bytes: %s\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	o->path = argv[optind];
	return -1;
}

int main(int argc, char **argv)
{
	_cleanup_free_ struct zpsi_mig_section *secs = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct opts o = { 0 };
	struct zpsi_psi_state psi;
	const struct zpsi_mig_section *ps;
	const char *what = NULL;
	size_t len = 0, n = 0;
	int r;

	r = parse_args(argc, argv, &o);
	if (r >= 0)
		return r;
	if (strcmp(o.path, "-") == 0) {
		fd = dup(STDIN_FILENO);
		o.path = "<stdin>";
	} else {
		fd = open(o.path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		fail(&o, "cannot open", -errno);
		return 1;
	}
	r = read_record(fd, &o, &buf, &len, &what);
	if (r < 0) {
		fail(&o, what, r);
		return 1;
	}
	secs = calloc(ZPSI_MIG_MAX_SECTIONS, sizeof(*secs));
	if (!secs) {
		fail(&o, "out of memory", -ENOMEM);
		return 1;
	}
	/* First as a real reader (libzpsi + zpsi-vmm sections) would, so an
	 * unknown required section fails here too; then list everything. */
	r = zpsi_mig_parse(buf, len, tool_known, secs, ZPSI_MIG_MAX_SECTIONS, &n);
	if (r == 0)
		r = zpsi_mig_parse(buf, len, known_all, secs, ZPSI_MIG_MAX_SECTIONS, &n);
	if (r < 0) {
		fail(&o, zpsi_mig_strerror(r), r);
		return 1;
	}
	ps = zpsi_mig_find(secs, n, ZPSI_MIG_SEC_PSI);
	if (!ps) {
		fail(&o, "record has no PSI section", -ENOMSG);
		return 1;
	}
	r = zpsi_mig_decode_psi(ps, &psi);
	if (r < 0) {
		fail(&o, zpsi_mig_strerror(r), r);
		return 1;
	}
	show(&o, buf, len, secs, n, &psi);
	return fflush(stdout) == 0 ? 0 : 1;
}
