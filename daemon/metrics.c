/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - GET /metrics in Prometheus's text format, served by
 * libmicrohttpd inside zpsid's own epoll loop (MHD_USE_EPOLL without an
 * internal thread: MHD's epoll fd sits in ours), so the handler reads the
 * guests without a lock.  Names follow Prometheus's conventions: ratios
 * 0..1, base units (seconds, bytes), counters end in _total.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <microhttpd.h>

#include "zpsid.h"
#include "zpsi/util.h"

struct metrics {
	struct MHD_Daemon *mhd;
	int epfd;
	unsigned port;
};

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family, one sample per guest for which when_ holds. */
#define PER_GUEST_IF(f, d, name_, type_, help_, when_, fmt_, expr_)                        \
	do {                                                                               \
		family(f, name_, type_, help_);                                            \
		for (uint32_t i_ = 1; i_ < (d)->by_id_cap; i_++) {                         \
			const struct guest *g = (d)->by_id[i_];                            \
			if (g && (when_))                                                  \
				fprintf(f, "%s{guest=\"%s\"} " fmt_ "\n", name_, g->name, expr_); \
		}                                                                          \
	} while (0)
#define PER_GUEST(f, d, name_, type_, help_, fmt_, expr_) \
	PER_GUEST_IF(f, d, name_, type_, help_, true, fmt_, expr_)

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "counter", help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static char *render(struct zpsid *d, size_t *len)
{
	char *buf = NULL;
	unsigned connected = 0;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	for (uint32_t i = 1; i < d->by_id_cap; i++)
		connected += d->by_id[i] && d->by_id[i]->conn;
	family(f, "zpsid_build_info", "gauge", "zpsid's version.");
	fprintf(f, "zpsid_build_info{version=\"%s\"} 1\n", ZPSID_VERSION);
	family(f, "zpsid_start_time_seconds", "gauge", "When zpsid started, Unix time.");
	fprintf(f, "zpsid_start_time_seconds %.3f\n", d->start_realtime_ns / 1e9);
	family(f, "zpsid_aggregate_psi_ratio", "gauge",
	       "Weighted aggregate PSI over registered guests (sum w*psi / sum w).");
	fprintf(f, "zpsid_aggregate_psi_ratio %.4f\n", zpsi_registry_aggregate_bp(d->reg) / 1e4);
	family(f, "zpsid_guests", "gauge", "Registered guests by connection state.");
	fprintf(f, "zpsid_guests{state=\"connected\"} %u\nzpsid_guests{state=\"detached\"} %u\n",
		connected, d->nguests - connected);

	PER_GUEST(f, d, "zpsid_guest_psi_ratio", "gauge", "The guest's PSI.", "%.4f", g->bp / 1e4);
	PER_GUEST(f, d, "zpsid_guest_weight", "gauge", "The guest's weight in the aggregate.", "%u", g->weight);
	PER_GUEST(f, d, "zpsid_guest_tier", "gauge", "Index of the policy tier in force.", "%u", g->alloc.tier);
	PER_GUEST(f, d, "zpsid_guest_share_ratio", "gauge", "Share of the configured allocation granted.",
		  "%.4f", g->alloc.share_bp / 1e4);
	PER_GUEST(f, d, "zpsid_guest_cpu_quota_seconds", "gauge", "CPU time allowed per period.", "%.6f",
		  g->alloc.cpu_quota_us / 1e6);
	PER_GUEST(f, d, "zpsid_guest_cpu_period_seconds", "gauge", "CPU bandwidth period.", "%.6f",
		  g->alloc.cpu_period_us / 1e6);
	PER_GUEST(f, d, "zpsid_guest_memory_target_bytes", "gauge", "Memory target (balloon, memory.high).",
		  "%" PRIu64, g->alloc.mem_target_bytes);
	PER_GUEST(f, d, "zpsid_guest_power_state", "gauge", "Power state as its C number (0, 1, 3, 6).",
		  "%u", g->power);
	PER_GUEST(f, d, "zpsid_guest_connected", "gauge", "1 while the VMM is connected.", "%d", g->conn != NULL);
	PER_GUEST(f, d, "zpsid_guest_enforced", "gauge", "1 when the cgroup holds the decision.", "%d",
		  g->enforced);
	PER_GUEST(f, d, "zpsid_guest_committed_total", "counter", "Operations the guest committed.",
		  "%" PRIu64, g->committed);
	PER_GUEST(f, d, "zpsid_guest_deferred_total", "counter", "Operations the guest deferred.",
		  "%" PRIu64, g->deferred);
	PER_GUEST(f, d, "zpsid_guest_samples_total", "counter", "New region samples accepted.",
		  "%" PRIu64, g->samples);
	PER_GUEST(f, d, "zpsid_guest_samples_torn_total", "counter", "Region reads that stayed torn.",
		  "%" PRIu64, g->rd.torn);
	PER_GUEST(f, d, "zpsid_guest_samples_rejected_total", "counter", "Region samples refused.",
		  "%" PRIu64, g->rd.rejected);
	PER_GUEST(f, d, "zpsid_guest_psi_resets_total", "counter",
		  "Times the guest started its counts anew (PSI_CTRL_MSR.RESET).", "%" PRIu64, g->resets);
	PER_GUEST(f, d, "zpsid_guest_balloon_bytes", "gauge",
		  "Guest memory the balloon has given back to the host.", "%" PRIu64, g->balloon_bytes);
	/* Only what a VMM reported: a missing sample is not a resident size of 0. */
	PER_GUEST_IF(f, d, "zpsid_guest_vmm_resident_bytes", "gauge",
		     "The VMM process's resident memory, as it last reported it.", g->rss_bytes != 0,
		     "%" PRIu64, g->rss_bytes);

	counter(f, "zpsid_sampler_ticks_total", "Sampler passes.", d->ticks);
	counter(f, "zpsid_region_reads_total", "Region reads over all guests.", d->samples);
	family(f, "zpsid_sampler_seconds_total", "counter", "Wall time spent in sampler passes.");
	fprintf(f, "zpsid_sampler_seconds_total %.6f\n", d->sample_ns / 1e9);
	counter(f, "zpsid_decisions_total", "Policy decisions applied.", d->decisions);
	counter(f, "zpsid_enforce_errors_total", "Decisions the cgroup refused.", d->enforce_errors);
	counter(f, "zpsid_connections_total", "Control connections accepted.", d->connections);
	counter(f, "zpsid_protocol_errors_total", "Control packets refused.", d->protocol_errors);
	counter(f, "zpsid_peers_refused_total", "Connections refused by peer credentials.", d->peers_refused);
	counter(f, "zpsid_guests_removed_total", "Registrations removed.", d->guests_removed);
	counter(f, "zpsid_commands_failed_total", "Power commands that failed.", d->commands_failed);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	struct zpsid *d = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	char *body;
	size_t len = 0;

	(void)version;
	(void)upload_data;
	(void)req_cls;
	if (*upload_size)
		return MHD_NO;	/* no bodies are accepted */
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		body = strdup("only GET\n");
		len = body ? strlen(body) : 0;
	} else if (strcmp(url, "/metrics")) {
		status = MHD_HTTP_NOT_FOUND;
		body = strdup("see /metrics\n");
		len = body ? strlen(body) : 0;
	} else
		body = render(d, &len);
	if (!body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int metrics_start(struct zpsid *d, const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	char host[64];
	const char *colon = strrchr(addr, ':');
	unsigned flags = MHD_USE_EPOLL;
	const union MHD_DaemonInfo *info;
	struct metrics *m;
	size_t hl;
	long port;

	if (!colon || (hl = (size_t)(colon - addr)) >= sizeof(host) || hl == 0)
		return -EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		host[hl - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -EINVAL;
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, d,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, 64u,
				  MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				  MHD_OPTION_END);
	if (!m->mhd) {
		free(m);
		return -EADDRNOTAVAIL;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	m->epfd = info ? info->epoll_fd : -1;
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : (unsigned)port;
	if (m->epfd < 0 || zpsid_epoll_add(d, m->epfd, EPOLLIN, TAG(TAG_METRICS, 0)) < 0) {
		MHD_stop_daemon(m->mhd);
		free(m);
		return -EIO;
	}
	d->metrics = m;
	log_info("metrics on http://%s/metrics (port %u)", addr, m->port);
	return 0;
}

void metrics_event(struct zpsid *d)
{
	if (d->metrics)
		MHD_run(d->metrics->mhd);
}

void metrics_tick(struct zpsid *d)
{
	metrics_event(d);	/* lets MHD time idle connections out */
}

unsigned metrics_port(const struct zpsid *d)
{
	return d->metrics ? d->metrics->port : 0;
}

void metrics_stop(struct zpsid *d)
{
	if (!d->metrics)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->metrics->epfd, NULL);
	MHD_stop_daemon(d->metrics->mhd);
	free(d->metrics);
	d->metrics = NULL;
}
