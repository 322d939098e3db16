/* SPDX-License-Identifier: MIT */
/*
 * ctl.c - the control protocol's messages: JSON <-> struct zpsi_ctl_msg.
 *
 * Every packet is untrusted (a VMM is as untrusted as its guest, a client
 * may be anything that got past the socket's mode): decoding checks the JSON
 * type and range of every field it uses before copying it once into a fixed
 * structure.  Unknown fields are ignored so that a newer peer can add some.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "zpsi/abi.h"
#include "zpsi/ctl.h"
#include "zpsi/util.h"

static const char *const type_names[ZPSI_CTL_TYPE_COUNT] = {
	[ZPSI_CTL_INVALID] = NULL,
	[ZPSI_CTL_HELLO] = "hello",
	[ZPSI_CTL_STATE] = "state",
	[ZPSI_CTL_ACK] = "ack",
	[ZPSI_CTL_WELCOME] = "welcome",
	[ZPSI_CTL_POWER] = "power",
	[ZPSI_CTL_SET_WEIGHT] = "set-weight",
	[ZPSI_CTL_MEM_TARGET] = "memory-target",
	[ZPSI_CTL_BYE] = "bye",
	[ZPSI_CTL_ERROR] = "error",
	[ZPSI_CTL_STATUS] = "status",
	[ZPSI_CTL_GUESTS] = "guests",
	[ZPSI_CTL_GUEST] = "guest",
	[ZPSI_CTL_WAKE] = "wake",
	[ZPSI_CTL_SET] = "set",
	[ZPSI_CTL_REPLY] = "reply",
};
_Static_assert(ZPSI_ARRAY_SIZE(type_names) == ZPSI_CTL_TYPE_COUNT, "a name for every type");

const char *zpsi_ctl_type_name(enum zpsi_ctl_type t)
{
	if ((unsigned)t >= ZPSI_CTL_TYPE_COUNT || !type_names[t])
		return "invalid";
	return type_names[t];
}

enum zpsi_ctl_type zpsi_ctl_type_from_name(const char *name)
{
	for (unsigned i = 1; i < ZPSI_CTL_TYPE_COUNT; i++)
		if (strcmp(type_names[i], name) == 0)
			return (enum zpsi_ctl_type)i;
	return ZPSI_CTL_INVALID;
}

/* Errnos by name: numbers differ between architectures, names do not. */
static const struct {
	int err;
	const char *name;
} errno_names[] = {
	{ EPERM, "EPERM" },	{ ENOENT, "ENOENT" },	{ EIO, "EIO" },
	{ E2BIG, "E2BIG" },	{ EBADF, "EBADF" },	{ EAGAIN, "EAGAIN" },
	{ ENOMEM, "ENOMEM" },	{ EACCES, "EACCES" },	{ EBUSY, "EBUSY" },
	{ EEXIST, "EEXIST" },	{ EINVAL, "EINVAL" },	{ ENOSPC, "ENOSPC" },
	{ ERANGE, "ERANGE" },	{ ENOSYS, "ENOSYS" },	{ EBADMSG, "EBADMSG" },
	{ EPROTO, "EPROTO" },	{ EMSGSIZE, "EMSGSIZE" }, { EOPNOTSUPP, "EOPNOTSUPP" },
	{ ETIMEDOUT, "ETIMEDOUT" }, { EALREADY, "EALREADY" }, { ESRCH, "ESRCH" },
	{ ECANCELED, "ECANCELED" }, { ENAMETOOLONG, "ENAMETOOLONG" },
};

const char *zpsi_ctl_errno_name(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(errno_names); i++)
		if (errno_names[i].err == err)
			return errno_names[i].name;
	return "EIO";
}

int zpsi_ctl_errno_from_name(const char *name)
{
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(errno_names); i++)
		if (strcmp(errno_names[i].name, name) == 0)
			return errno_names[i].err;
	return EIO;
}

static const char *const power_names[] = { "C0", "C1", NULL, "C3", NULL, NULL, "C6" };

int zpsi_ctl_power_from_name(const char *s, uint8_t *out)
{
	for (uint8_t i = 0; i < ZPSI_ARRAY_SIZE(power_names); i++)
		if (power_names[i] && strcmp(power_names[i], s) == 0) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

const char *zpsi_ctl_power_name(uint8_t state)
{
	if (state < ZPSI_ARRAY_SIZE(power_names) && power_names[state])
		return power_names[state];
	return "invalid";
}

/* VM names become file names in the state directory and cgroup names, so
 * they are kept to a portable, dot-free-start alphabet. */
bool zpsi_ctl_name_valid(const char *name)
{
	size_t n = strnlen(name, ZPSI_CTL_NAME_MAX + 1);

	if (n == 0 || n > ZPSI_CTL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

bool zpsi_ctl_token_valid(const char *token)
{
	if (strnlen(token, ZPSI_CTL_TOKEN_LEN + 1) != ZPSI_CTL_TOKEN_LEN)
		return false;
	for (unsigned i = 0; i < ZPSI_CTL_TOKEN_LEN; i++)
		if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
			return false;
	return true;
}

void zpsi_ctl_msg_done(struct zpsi_ctl_msg *m)
{
	if (m->body) {
		json_decref(m->body);
		m->body = NULL;
	}
}

/* ---------------------------------------------------------------- */
/* Field readers: each returns 0 (absent and optional, or copied), or -EINVAL */
/* ---------------------------------------------------------------- */

static int get_uint(json_t *o, const char *key, bool required, uint64_t min, uint64_t max,
		    uint64_t *out, bool *present)
{
	json_t *v = json_object_get(o, key);
	json_int_t x;

	if (present)
		*present = false;
	if (!v)
		return required ? -EINVAL : 0;
	if (!json_is_integer(v))
		return -EINVAL;
	x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < min || (uint64_t)x > max)
		return -EINVAL;
	*out = (uint64_t)x;
	if (present)
		*present = true;
	return 0;
}

static int get_u32(json_t *o, const char *key, bool required, uint32_t min, uint32_t max,
		   uint32_t *out, bool *present)
{
	uint64_t v = 0;
	bool p = false;
	int r = get_uint(o, key, required, min, max, &v, &p);

	if (r < 0)
		return r;
	if (p)
		*out = (uint32_t)v;
	if (present)
		*present = p;
	return 0;
}

static int get_str(json_t *o, const char *key, bool required, char *dst, size_t cap)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!v)
		return required ? -EINVAL : 0;
	if (!json_is_string(v))
		return -EINVAL;
	n = json_string_length(v);
	/* jansson refuses \u0000 unless asked, but check anyway: a C string
	 * with an embedded NUL would mean something else than was sent. */
	if (n >= cap || memchr(json_string_value(v), '\0', n))
		return -EINVAL;
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

static int get_bool(json_t *o, const char *key, bool required, bool *out, bool *present)
{
	json_t *v = json_object_get(o, key);

	if (present)
		*present = false;
	if (!v)
		return required ? -EINVAL : 0;
	if (!json_is_boolean(v))
		return -EINVAL;
	*out = json_is_true(v);
	if (present)
		*present = true;
	return 0;
}

static int get_power(json_t *o, const char *key, bool required, uint8_t *out, bool *present)
{
	char s[8] = "";
	json_t *v = json_object_get(o, key);
	int r;

	if (present)
		*present = false;
	if (!v)
		return required ? -EINVAL : 0;
	r = get_str(o, key, true, s, sizeof(s));
	if (r < 0)
		return r;
	r = zpsi_ctl_power_from_name(s, out);
	if (r < 0)
		return r;
	if (present)
		*present = true;
	return 0;
}

static int get_errno(json_t *o, int *out)
{
	char s[32] = "";
	int r = get_str(o, "error", true, s, sizeof(s));

	if (r < 0)
		return r;
	*out = zpsi_ctl_errno_from_name(s);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Per-type decoders                                                 */
/* ---------------------------------------------------------------- */

static const struct {
	const char *name;
	uint32_t bit;
} feature_names[] = {
	{ "c3", ZPSI_CTL_F_C3 },
	{ "c6", ZPSI_CTL_F_C6 },
	{ "balloon", ZPSI_CTL_F_BALLOON },
};

static int decode_hello(json_t *o, struct zpsi_ctl_hello *h)
{
	uint32_t pid = 0;
	json_t *a;
	int r;

	if ((r = get_u32(o, "proto", true, 1, UINT32_MAX, &h->proto, NULL)) < 0 ||
	    (r = get_str(o, "name", true, h->name, sizeof(h->name))) < 0 ||
	    (r = get_u32(o, "pid", true, 1, INT32_MAX, &pid, NULL)) < 0 ||
	    (r = get_u32(o, "weight", true, ZPSI_WEIGHT_MIN, ZPSI_WEIGHT_MAX, &h->weight, NULL)) < 0 ||
	    (r = get_u32(o, "vcpus", true, 1, ZPSI_CTL_VCPUS_MAX, &h->vcpus, NULL)) < 0 ||
	    (r = get_uint(o, "memory_bytes", true, 0, ZPSI_CTL_MEM_MAX, &h->mem_bytes, NULL)) < 0 ||
	    (r = get_str(o, "cgroup", false, h->cgroup, sizeof(h->cgroup))) < 0 ||
	    (r = get_str(o, "resume_token", false, h->resume_token, sizeof(h->resume_token))) < 0 ||
	    (r = get_power(o, "power", false, &h->power, NULL)) < 0)
		return r;
	h->pid = (int32_t)pid;
	if (!zpsi_ctl_name_valid(h->name))
		return -EINVAL;
	if (h->resume_token[0] && !zpsi_ctl_token_valid(h->resume_token))
		return -EINVAL;
	/* a cgroup is an absolute path without "..": zpsid checks it is under
	 * its parent, this only refuses what could never be */
	if (h->cgroup[0] && (h->cgroup[0] != '/' || strstr(h->cgroup, "/..") || strstr(h->cgroup, "//")))
		return -EINVAL;

	a = json_object_get(o, "threads");
	if (a) {
		if (!json_is_array(a) || json_array_size(a) > ZPSI_CTL_TIDS_MAX)
			return -EINVAL;
		for (size_t i = 0; i < json_array_size(a); i++) {
			json_t *t = json_array_get(a, i);

			if (!json_is_integer(t) || json_integer_value(t) < 1 ||
			    json_integer_value(t) > INT32_MAX)
				return -EINVAL;
			h->tids[i] = (int32_t)json_integer_value(t);
		}
		h->ntids = (uint32_t)json_array_size(a);
	}
	a = json_object_get(o, "features");
	if (a) {
		if (!json_is_array(a) || json_array_size(a) > 32)
			return -EINVAL;
		for (size_t i = 0; i < json_array_size(a); i++) {
			json_t *f = json_array_get(a, i);

			if (!json_is_string(f))
				return -EINVAL;
			/* unknown features are a newer VMM's: ignored */
			for (size_t k = 0; k < ZPSI_ARRAY_SIZE(feature_names); k++)
				if (strcmp(json_string_value(f), feature_names[k].name) == 0)
					h->features |= feature_names[k].bit;
		}
	}
	return 0;
}

static int decode_welcome(json_t *o, struct zpsi_ctl_welcome *w)
{
	json_t *agg;
	int r;

	if ((r = get_u32(o, "guest_id", true, 1, UINT32_MAX, &w->guest_id, NULL)) < 0 ||
	    (r = get_str(o, "resume_token", true, w->resume_token, sizeof(w->resume_token))) < 0 ||
	    (r = get_bool(o, "restored", false, &w->restored, NULL)) < 0 ||
	    (r = get_power(o, "power", false, &w->power, NULL)) < 0 ||
	    (r = get_uint(o, "memory_target_bytes", false, 0, ZPSI_CTL_MEM_MAX, &w->mem_target_bytes,
			  NULL)) < 0)
		return r;
	if (!zpsi_ctl_token_valid(w->resume_token))
		return -EINVAL;
	agg = json_object_get(o, "aggregate_psi");
	if (agg) {
		if (!json_is_number(agg))
			return -EINVAL;
		w->aggregate_psi = json_number_value(agg);
		if (!(w->aggregate_psi >= 0.0 && w->aggregate_psi <= 1.0))
			return -EINVAL;
	}
	return 0;
}

static int decode_state(json_t *o, struct zpsi_ctl_state *s)
{
	int r;

	if ((r = get_power(o, "power", false, &s->power, &s->has_power)) < 0 ||
	    (r = get_power(o, "power_request", false, &s->power_request, &s->has_power_request)) < 0 ||
	    (r = get_u32(o, "weight", false, ZPSI_WEIGHT_MIN, ZPSI_WEIGHT_MAX, &s->weight,
			 &s->has_weight)) < 0 ||
	    (r = get_uint(o, "balloon_bytes", false, 0, ZPSI_CTL_MEM_MAX, &s->balloon_bytes,
			  &s->has_balloon)) < 0 ||
	    (r = get_uint(o, "rss_bytes", false, 0, ZPSI_CTL_MEM_MAX, &s->rss_bytes, &s->has_rss)) < 0 ||
	    (r = get_bool(o, "counters_reset", false, &s->counters_reset, NULL)) < 0)
		return r;
	return 0;
}

static int decode_ack(json_t *o, struct zpsi_ctl_ack *a)
{
	int r;

	if ((r = get_bool(o, "ok", true, &a->ok, NULL)) < 0 ||
	    (r = get_power(o, "power", false, &a->power, &a->has_power)) < 0 ||
	    (r = get_uint(o, "bytes", false, 0, INT64_MAX, &a->bytes, NULL)) < 0 ||
	    (r = get_str(o, "message", false, a->message, sizeof(a->message))) < 0)
		return r;
	if (!a->ok && (r = get_errno(o, &a->error)) < 0)
		return r;
	return 0;
}

static int decode_query(json_t *o, enum zpsi_ctl_type t, struct zpsi_ctl_query *q)
{
	bool need_name = t == ZPSI_CTL_GUEST || t == ZPSI_CTL_WAKE || t == ZPSI_CTL_SET;
	int r;

	if ((r = get_str(o, "name", need_name, q->name, sizeof(q->name))) < 0)
		return r;
	if (need_name && !zpsi_ctl_name_valid(q->name))
		return -EINVAL;
	if (t == ZPSI_CTL_SET &&
	    ((r = get_str(o, "key", true, q->key, sizeof(q->key))) < 0 ||
	     (r = get_str(o, "value", true, q->value, sizeof(q->value))) < 0))
		return r;
	return 0;
}

static int decode_body(json_t *o, struct zpsi_ctl_msg *m)
{
	switch (m->type) {
	case ZPSI_CTL_HELLO:
		return decode_hello(o, &m->u.hello);
	case ZPSI_CTL_WELCOME:
		return decode_welcome(o, &m->u.welcome);
	case ZPSI_CTL_STATE:
		return decode_state(o, &m->u.state);
	case ZPSI_CTL_ACK:
		return decode_ack(o, &m->u.ack);
	case ZPSI_CTL_POWER: {
		int r = get_power(o, "state", true, &m->u.power.state, NULL);

		return r < 0 ? r : get_str(o, "path", false, m->u.power.path, sizeof(m->u.power.path));
	}
	case ZPSI_CTL_SET_WEIGHT:
		return get_u32(o, "weight", true, ZPSI_WEIGHT_MIN, ZPSI_WEIGHT_MAX, &m->u.weight, NULL);
	case ZPSI_CTL_MEM_TARGET:
		return get_uint(o, "bytes", true, 0, ZPSI_CTL_MEM_MAX, &m->u.mem_target_bytes, NULL);
	case ZPSI_CTL_BYE: {
		int r = get_str(o, "reason", false, m->u.bye.reason, sizeof(m->u.bye.reason));

		return r < 0 ? r : get_bool(o, "reconnect", false, &m->u.bye.reconnect, NULL);
	}
	case ZPSI_CTL_ERROR: {
		int r = get_errno(o, &m->u.error.error);

		return r < 0 ? r : get_str(o, "message", false, m->u.error.message,
					   sizeof(m->u.error.message));
	}
	case ZPSI_CTL_STATUS:
	case ZPSI_CTL_GUESTS:
	case ZPSI_CTL_GUEST:
	case ZPSI_CTL_WAKE:
	case ZPSI_CTL_SET:
		return decode_query(o, m->type, &m->u.query);
	case ZPSI_CTL_REPLY:
		return get_bool(o, "more", false, &m->more, NULL);
	default:
		return -EOPNOTSUPP;
	}
}

int zpsi_ctl_decode(const void *buf, size_t len, struct zpsi_ctl_msg *out)
{
	struct zpsi_ctl_msg m = { 0 };
	json_error_t jerr;
	json_t *o;
	char type[32] = "";
	int r;

	if (len > ZPSI_CTL_MSG_MAX)
		return -EBADMSG;
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return json_error_code(&jerr) == json_error_out_of_memory ? -ENOMEM : -EBADMSG;
	if (!json_is_object(o)) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = get_str(o, "type", true, type, sizeof(type))) < 0 ||
	    (r = get_u32(o, "seq", false, 0, UINT32_MAX, &m.seq, NULL)) < 0 ||
	    (r = get_u32(o, "re", false, 0, UINT32_MAX, &m.re, NULL)) < 0)
		goto out;
	m.type = zpsi_ctl_type_from_name(type);
	if (m.type == ZPSI_CTL_INVALID) {
		r = -EOPNOTSUPP;
		goto out;
	}
	r = decode_body(o, &m);
	if (r < 0)
		goto out;
	if (m.type == ZPSI_CTL_REPLY) {
		json_object_del(o, "type");
		json_object_del(o, "re");
		json_object_del(o, "seq");
		json_object_del(o, "more");
		m.body = o;
		o = NULL;
	}
	*out = m;
	r = 0;
out:
	json_decref(o);
	return r;
}

/* ---------------------------------------------------------------- */
/* Encoding                                                          */
/* ---------------------------------------------------------------- */

/* Each setter returns -ENOMEM on failure; the caller ORs them up. */
static int set_new(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}
static int set_str(json_t *o, const char *key, const char *s)
{
	return set_new(o, key, json_string(s));
}
static int set_int(json_t *o, const char *key, uint64_t v)
{
	return v > INT64_MAX ? -EINVAL : set_new(o, key, json_integer((json_int_t)v));
}

static int encode_hello(json_t *o, const struct zpsi_ctl_hello *h)
{
	json_t *a;
	int r = 0;

	if (!zpsi_ctl_name_valid(h->name) || h->ntids > ZPSI_CTL_TIDS_MAX || !zpsi_power_valid(h->power) ||
	    (h->resume_token[0] && !zpsi_ctl_token_valid(h->resume_token)))
		return -EINVAL;
	r |= set_int(o, "proto", h->proto ? h->proto : ZPSI_CTL_PROTO_VERSION);
	r |= set_str(o, "name", h->name);
	r |= set_int(o, "pid", (uint64_t)h->pid);
	r |= set_int(o, "weight", h->weight);
	r |= set_int(o, "vcpus", h->vcpus);
	r |= set_int(o, "memory_bytes", h->mem_bytes);
	if (h->cgroup[0])
		r |= set_str(o, "cgroup", h->cgroup);
	if (h->resume_token[0])
		r |= set_str(o, "resume_token", h->resume_token);
	if (h->power)
		r |= set_str(o, "power", zpsi_ctl_power_name(h->power));
	if (h->ntids) {
		a = json_array();
		for (uint32_t i = 0; a && i < h->ntids; i++)
			r |= json_array_append_new(a, json_integer(h->tids[i])) ? -ENOMEM : 0;
		r |= set_new(o, "threads", a);
	}
	a = json_array();
	for (size_t k = 0; a && k < ZPSI_ARRAY_SIZE(feature_names); k++)
		if (h->features & feature_names[k].bit)
			r |= json_array_append_new(a, json_string(feature_names[k].name)) ? -ENOMEM : 0;
	r |= set_new(o, "features", a);
	return r;
}

static int encode_body(json_t *o, const struct zpsi_ctl_msg *m)
{
	const struct zpsi_ctl_state *s = &m->u.state;
	int r = 0;

	switch (m->type) {
	case ZPSI_CTL_HELLO:
		return encode_hello(o, &m->u.hello);
	case ZPSI_CTL_WELCOME:
		r |= set_int(o, "guest_id", m->u.welcome.guest_id);
		r |= set_str(o, "resume_token", m->u.welcome.resume_token);
		r |= set_new(o, "restored", json_boolean(m->u.welcome.restored));
		r |= set_str(o, "power", zpsi_ctl_power_name(m->u.welcome.power));
		r |= set_int(o, "memory_target_bytes", m->u.welcome.mem_target_bytes);
		r |= set_new(o, "aggregate_psi", json_real(m->u.welcome.aggregate_psi));
		return r;
	case ZPSI_CTL_STATE:
		if (s->has_power)
			r |= set_str(o, "power", zpsi_ctl_power_name(s->power));
		if (s->has_power_request)
			r |= set_str(o, "power_request", zpsi_ctl_power_name(s->power_request));
		if (s->has_weight)
			r |= set_int(o, "weight", s->weight);
		if (s->has_balloon)
			r |= set_int(o, "balloon_bytes", s->balloon_bytes);
		if (s->has_rss)
			r |= set_int(o, "rss_bytes", s->rss_bytes);
		if (s->counters_reset)
			r |= set_new(o, "counters_reset", json_boolean(true));
		return r;
	case ZPSI_CTL_ACK:
		r |= set_new(o, "ok", json_boolean(m->u.ack.ok));
		if (!m->u.ack.ok)
			r |= set_str(o, "error", zpsi_ctl_errno_name(m->u.ack.error));
		if (m->u.ack.has_power)
			r |= set_str(o, "power", zpsi_ctl_power_name(m->u.ack.power));
		if (m->u.ack.bytes)
			r |= set_int(o, "bytes", m->u.ack.bytes);
		if (m->u.ack.message[0])
			r |= set_str(o, "message", m->u.ack.message);
		return r;
	case ZPSI_CTL_POWER:
		r |= set_str(o, "state", zpsi_ctl_power_name(m->u.power.state));
		if (m->u.power.path[0])
			r |= set_str(o, "path", m->u.power.path);
		return r;
	case ZPSI_CTL_SET_WEIGHT:
		return set_int(o, "weight", m->u.weight);
	case ZPSI_CTL_MEM_TARGET:
		return set_int(o, "bytes", m->u.mem_target_bytes);
	case ZPSI_CTL_BYE:
		if (m->u.bye.reason[0])
			r |= set_str(o, "reason", m->u.bye.reason);
		r |= set_new(o, "reconnect", json_boolean(m->u.bye.reconnect));
		return r;
	case ZPSI_CTL_ERROR:
		r |= set_str(o, "error", zpsi_ctl_errno_name(m->u.error.error));
		if (m->u.error.message[0])
			r |= set_str(o, "message", m->u.error.message);
		return r;
	case ZPSI_CTL_STATUS:
	case ZPSI_CTL_GUESTS:
	case ZPSI_CTL_GUEST:
	case ZPSI_CTL_WAKE:
	case ZPSI_CTL_SET:
		if (m->u.query.name[0])
			r |= set_str(o, "name", m->u.query.name);
		if (m->type == ZPSI_CTL_SET) {
			r |= set_str(o, "key", m->u.query.key);
			r |= set_str(o, "value", m->u.query.value);
		}
		return r;
	case ZPSI_CTL_REPLY:
		if (m->body && (!json_is_object(m->body) || json_object_update(o, m->body) < 0))
			return -EINVAL;
		if (m->more)
			r |= set_new(o, "more", json_true());
		return r;
	default:
		return -EINVAL;
	}
}

int zpsi_ctl_encode(const struct zpsi_ctl_msg *m, char **buf, size_t *len)
{
	json_t *o = json_object();
	char *s;
	int r;

	if (!o)
		return -ENOMEM;
	r = encode_body(o, m);
	if (r == 0) {
		/* after the body, so a reply body cannot override the envelope */
		r |= set_str(o, "type", zpsi_ctl_type_name(m->type));
		if (m->seq)
			r |= set_int(o, "seq", m->seq);
		if (m->re)
			r |= set_int(o, "re", m->re);
	}
	if (r < 0) {
		json_decref(o);
		return r == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	if (strlen(s) > ZPSI_CTL_MSG_MAX) {
		free(s);
		return -EMSGSIZE;
	}
	*len = strlen(s);
	*buf = s;
	return 0;
}
