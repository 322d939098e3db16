/* SPDX-License-Identifier: MIT */
/*
 * api.c - zpsictl's queries (docs/control.md section 4): status, guests,
 * guest, wake, set.  Guest lists go out ZPSID_GUESTS_PER_PACKET at a time,
 * each packet made only when the previous one has left, so a slow client
 * costs one cursor, not a copy of every guest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "zpsid.h"
#include "zpsi/util.h"

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

json_t *api_guest_json(struct zpsid *d, const struct guest *g, bool details)
{
	struct zpsi_guest_info info = { 0 };
	json_t *o;

	zpsi_registry_get(d->reg, g->id, &info);
	o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(g->name));
	json_object_set_new(o, "id", json_integer(g->id));
	json_object_set_new(o, "pid", json_integer(g->pid));
	json_object_set_new(o, "connected", json_boolean(g->conn != NULL));
	json_object_set_new(o, "weight", json_integer(g->weight));
	json_object_set_new(o, "vcpus", json_integer(g->vcpus));
	json_object_set_new(o, "memory_bytes", json_integer((json_int_t)g->mem_bytes));
	json_object_set_new(o, "psi", json_real(info.ratio_bp / (double)ZPSI_BP_MAX));
	json_object_set_new(o, "psi_bp", json_integer(info.ratio_bp));
	json_object_set_new(o, "tier", json_integer(g->alloc.tier));
	json_object_set_new(o, "share", json_real(g->alloc.share_bp / (double)ZPSI_BP_MAX));
	json_object_set_new(o, "cpu_quota_us", json_integer((json_int_t)g->alloc.cpu_quota_us));
	json_object_set_new(o, "cpu_period_us", json_integer(g->alloc.cpu_period_us));
	json_object_set_new(o, "memory_target_bytes", json_integer((json_int_t)g->alloc.mem_target_bytes));
	json_object_set_new(o, "power_state", json_string(zpsi_ctl_power_name(g->power)));
	json_object_set_new(o, "since", json_real(secs(g->since_realtime_ns)));
	json_object_set_new(o, "committed", json_integer((json_int_t)(info.committed & INT64_MAX)));
	json_object_set_new(o, "deferred", json_integer((json_int_t)(info.deferred & INT64_MAX)));
	json_object_set_new(o, "updates_total", json_integer((json_int_t)info.updates));
	json_object_set_new(o, "samples_total", json_integer((json_int_t)g->samples));
	json_object_set_new(o, "samples_torn_total", json_integer((json_int_t)g->rd.torn));
	json_object_set_new(o, "samples_rejected_total", json_integer((json_int_t)g->rd.rejected));
	json_object_set_new(o, "counter_resets_total", json_integer((json_int_t)g->resets));
	json_object_set_new(o, "cgroup", g->cgroup ? json_string(g->cgroup) : json_null());
	json_object_set_new(o, "enforced", json_boolean(g->enforced));
	json_object_set_new(o, "balloon_bytes", json_integer((json_int_t)g->balloon_bytes));
	json_object_set_new(o, "rss_bytes", json_integer((json_int_t)g->rss_bytes));
	if (g->pending == PENDING_POWER)
		json_object_set_new(o, "pending", json_string(zpsi_ctl_power_name(g->pending_power)));
	if (!details)
		return o;
	json_object_set_new(o, "enforce_error", g->enforce_error
		? json_string(zpsi_ctl_errno_name(g->enforce_error)) : json_null());
	json_object_set_new(o, "features", json_pack("{s:b,s:b,s:b}", "c3", !!(g->features & ZPSI_CTL_F_C3),
						     "c6", !!(g->features & ZPSI_CTL_F_C6),
						     "balloon", !!(g->features & ZPSI_CTL_F_BALLOON)));
	json_object_set_new(o, "memory_override_bytes", json_integer((json_int_t)g->mem_override));
	json_t *a = json_array();
	for (unsigned i = 0; a && i < g->ndecisions; i++) {
		/* oldest first */
		unsigned k = (g->decision_head + ZPSID_DECISIONS - g->ndecisions + i) % ZPSID_DECISIONS;
		const struct decision *x = &g->decisions[k];

		json_array_append_new(a, json_pack("{s:f,s:f,s:i,s:s,s:f,s:I,s:I,s:o}",
			"time", secs(x->realtime_ns), "psi", x->bp / (double)ZPSI_BP_MAX, "tier", x->tier,
			"power_state", zpsi_ctl_power_name(x->power), "share", x->share_bp / (double)ZPSI_BP_MAX,
			"cpu_quota_us", (json_int_t)x->cpu_quota_us, "memory_target_bytes",
			(json_int_t)x->mem_target_bytes,
			"error", x->error ? json_string(zpsi_ctl_errno_name(x->error)) : json_null()));
	}
	json_object_set_new(o, "decisions", a);
	return o;
}

void api_reply_guest(struct zpsid *d, struct conn *c, uint32_t re, const struct guest *g)
{
	struct zpsi_ctl_msg m = { .type = ZPSI_CTL_REPLY, .re = re };

	m.body = json_object();
	if (!m.body)
		return;
	json_object_set_new(m.body, "guest", api_guest_json(d, g, true));
	conn_send(d, c, &m, -1);
	json_decref(m.body);
}

/* Fill body["guests"] from the cursor on; true when more remain. */
static bool add_guests(struct zpsid *d, struct conn *c, json_t *body)
{
	json_t *a = json_array();
	uint32_t id = c->reply_cursor;
	unsigned n = 0;

	while (n < ZPSID_GUESTS_PER_PACKET && (id = zpsi_registry_next(d->reg, id))) {
		struct guest *g = guest_by_id(d, id);

		if (!g)
			continue;
		json_array_append_new(a, api_guest_json(d, g, false));
		n++;
		c->reply_cursor = id;
	}
	json_object_set_new(body, "guests", a);
	return id && zpsi_registry_next(d->reg, c->reply_cursor);
}

static void send_list(struct zpsid *d, struct conn *c, json_t *body)
{
	struct zpsi_ctl_msg m = { .type = ZPSI_CTL_REPLY, .re = c->reply_re, .body = body };

	m.more = add_guests(d, c, body);
	c->reply_active = m.more;
	conn_send(d, c, &m, -1);
	json_decref(body);
}

void api_reply_continue(struct zpsid *d, struct conn *c)
{
	json_t *body = json_object();

	if (!body) {
		c->reply_active = false;
		return;
	}
	send_list(d, c, body);
}

static json_t *status_body(struct zpsid *d)
{
	unsigned connected = 0;
	uint32_t agg = zpsi_registry_aggregate_bp(d->reg);	/* O(1), exact, current */

	for (uint32_t id = zpsi_registry_next(d->reg, 0); id; id = zpsi_registry_next(d->reg, id)) {
		struct guest *g = guest_by_id(d, id);

		connected += g && g->conn;
	}
	return json_pack("{s:f,s:i,s:i,s:i,s:i,s:f,s:s,s:s,s:s,s:i}",
		"aggregate_psi", agg / (double)ZPSI_BP_MAX, "aggregate_bp", (json_int_t)agg,
		"count", (json_int_t)d->nguests, "connected", (json_int_t)connected,
		"sample_hz", (json_int_t)d->cfg.sample_hz,
		"uptime_seconds", secs(zpsi_mono_ns() - d->start_mono_ns),
		"cgroup_mode", cg_mode_name(d->cg.mode), "cgroup_parent", d->cg.parent,
		"version", ZPSID_VERSION, "metrics_port", (json_int_t)metrics_port(d));
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!*v || *v == '-' || *v == '+')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

static void do_power(struct zpsid *d, struct conn *c, uint32_t seq, struct guest *g, uint8_t state)
{
	int r = power_request(d, g, state, c, seq);

	if (r == -EALREADY)
		api_reply_guest(d, c, seq, g);
	else if (r < 0)
		conn_send_error(d, c, seq, r, "%s: cannot enter %s: %s", g->name,
				zpsi_ctl_power_name(state), strerror(-r));
	/* else: answered when the VMM acks */
}

static void do_set(struct zpsid *d, struct conn *c, const struct zpsi_ctl_msg *m, struct guest *g)
{
	const struct zpsi_ctl_query *q = &m->u.query;
	uint64_t v;
	uint8_t p;

	if (!strcmp(q->key, "weight")) {
		if (parse_u64(q->value, ZPSI_WEIGHT_MAX, &v) < 0 || v < ZPSI_WEIGHT_MIN ||
		    guest_set_weight(d, g, (uint32_t)v) < 0) {
			conn_send_error(d, c, m->seq, -EINVAL, "weight must be 1..65535");
			return;
		}
	} else if (!strcmp(q->key, "power")) {
		if (zpsi_ctl_power_from_name(q->value, &p) < 0) {
			conn_send_error(d, c, m->seq, -EINVAL, "power must be C0, C3 or C6");
			return;
		}
		do_power(d, c, m->seq, g, p);
		return;
	} else if (!strcmp(q->key, "memory_target")) {
		if (!strcmp(q->value, "auto"))
			v = 0;
		else if (parse_u64(q->value, ZPSI_CTL_MEM_MAX, &v) < 0 || v < ZPSI_REGION_PAGE_SIZE) {
			conn_send_error(d, c, m->seq, -EINVAL, "memory_target must be bytes (>= 4096) or auto");
			return;
		}
		guest_set_memory_override(d, g, v);
	} else {
		conn_send_error(d, c, m->seq, -EINVAL, "unknown key '%s' (weight, power, memory_target)", q->key);
		return;
	}
	api_reply_guest(d, c, m->seq, g);
}

void api_query(struct zpsid *d, struct conn *c, const struct zpsi_ctl_msg *m)
{
	struct guest *g = NULL;
	json_t *body;

	if (c->reply_active) {
		conn_send_error(d, c, m->seq, -EBUSY, "a reply is still being sent");
		return;
	}
	if (m->type == ZPSI_CTL_GUEST || m->type == ZPSI_CTL_WAKE || m->type == ZPSI_CTL_SET) {
		g = guest_by_name(d, m->u.query.name);
		if (!g) {
			conn_send_error(d, c, m->seq, -ENOENT, "no guest named %s", m->u.query.name);
			return;
		}
	}
	switch (m->type) {
	case ZPSI_CTL_STATUS:
	case ZPSI_CTL_GUESTS:
		body = m->type == ZPSI_CTL_STATUS ? status_body(d) : json_object();
		if (!body) {
			conn_send_error(d, c, m->seq, -ENOMEM, "out of memory");
			return;
		}
		c->reply_re = m->seq;
		c->reply_cursor = 0;
		send_list(d, c, body);
		conn_flush(d, c);
		return;
	case ZPSI_CTL_GUEST:
		api_reply_guest(d, c, m->seq, g);
		return;
	case ZPSI_CTL_WAKE:
		do_power(d, c, m->seq, g, ZPSI_POWER_C0);
		return;
	case ZPSI_CTL_SET:
		do_set(d, c, m, g);
		return;
	default:
		conn_send_error(d, c, m->seq, -EPROTO, "not a query");
	}
}
