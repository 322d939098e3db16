/* SPDX-License-Identifier: MIT */
/*
 * power.c - zpsid drives C3 and C6 and wakes guests (SPEC component 3,
 * docs/control.md "power").  One power command per VM at a time; the VMM
 * answers with an ack when it is done; after command_timeout the client is
 * told that the command goes on.
 *
 * C6's snapshot file is created by zpsid in its own state directory and only
 * its fd is passed: the VMM never needs to write anywhere else.  The file is
 * removed only when the VMM has said it is not in C6 (a refused or failed
 * C6, a finished wake) or with the guest: a C6 still being written when
 * zpsid stops waiting may yet complete.  Nor is it truncated when a C6 is
 * asked for: the VMM writes from offset 0 and truncates to what it wrote,
 * and a VMM that is in C6 already (zpsid's view can lag after a restart)
 * acks without writing - its state must survive the command.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zpsid.h"
#include "zpsi/util.h"

static uint32_t next_seq(void)
{
	static uint32_t seq;

	return ++seq ? seq : ++seq;
}

static void snapshot_path(const struct zpsid *d, const struct guest *g, char *buf, size_t cap)
{
	if (snprintf(buf, cap, "%s/snapshots/%s.c6", d->cfg.state_dir, g->name) >= (int)cap)
		buf[0] = '\0';	/* cannot happen: both parts are bounded below cap */
}

/* Host-driven transitions: wake from anything, C3 from running, C6 from
 * running or C3 (C1 is the guest's own, entered by HLT). */
static int check_transition(const struct guest *g, uint8_t to)
{
	switch (to) {
	case ZPSI_POWER_C0:
		return 0;
	case ZPSI_POWER_C3:
		if (!(g->features & ZPSI_CTL_F_C3))
			return -EOPNOTSUPP;
		return g->power == ZPSI_POWER_C0 || g->power == ZPSI_POWER_C1 ? 0 : -EINVAL;
	case ZPSI_POWER_C6:
		if (!(g->features & ZPSI_CTL_F_C6))
			return -EOPNOTSUPP;
		return g->power != ZPSI_POWER_C6 ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

int send_command(struct zpsid *d, struct guest *g, enum pending_kind kind, uint64_t value,
		 struct conn *client, uint32_t client_seq)
{
	struct zpsi_ctl_msg m = { .seq = next_seq() };
	_cleanup_close_ int fd = -1;
	int r;

	if (!g->conn)
		return -ENOTCONN;
	switch (kind) {
	case PENDING_WEIGHT:
		m.type = ZPSI_CTL_SET_WEIGHT;
		m.u.weight = (uint32_t)value;
		return conn_send(d, g->conn, &m, -1);
	case PENDING_MEMORY:
		m.type = ZPSI_CTL_MEM_TARGET;
		m.u.mem_target_bytes = value;
		return conn_send(d, g->conn, &m, -1);
	case PENDING_POWER:
		break;
	default:
		return -EINVAL;
	}
	m.type = ZPSI_CTL_POWER;
	m.u.power.state = (uint8_t)value;
	if (value == ZPSI_POWER_C6 || (value == ZPSI_POWER_C0 && g->power == ZPSI_POWER_C6)) {
		snapshot_path(d, g, m.u.power.path, sizeof(m.u.power.path));
		fd = value == ZPSI_POWER_C6
			? open(m.u.power.path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)
			: open(m.u.power.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		/* No file of ours: the VMM hibernated into its own (SIGPWR)
		 * and wakes from it without one. */
		if (fd < 0 && errno == ENOENT && value == ZPSI_POWER_C0)
			m.u.power.path[0] = '\0';
		else if (fd < 0)
			return -errno;
	}
	r = conn_send(d, g->conn, &m, fd);
	if (r < 0)
		return r;
	g->pending = PENDING_POWER;
	g->pending_seq = m.seq;
	g->pending_power = (uint8_t)value;
	g->pending_deadline_ns = zpsi_mono_ns() + d->cfg.command_timeout_s * ZPSI_NSEC_PER_SEC;
	g->pending_client = client;
	g->pending_client_seq = client_seq;
	log_info("%s: asked the VMM for %s", g->name, zpsi_ctl_power_name((uint8_t)value));
	return 0;
}

int power_request(struct zpsid *d, struct guest *g, uint8_t state, struct conn *client,
		  uint32_t client_seq)
{
	int r;

	if (!g->conn)
		return -ENOTCONN;
	if (g->pending != PENDING_NONE)
		return -EBUSY;
	if (state == g->power)
		return -EALREADY;
	r = check_transition(g, state);
	if (r < 0)
		return r;
	return send_command(d, g, PENDING_POWER, state, client, client_seq);
}

static void finish(struct zpsid *d, struct guest *g, int err, const char *msg)
{
	struct conn *client = g->pending_client;
	uint32_t seq = g->pending_client_seq;

	g->pending = PENDING_NONE;
	g->pending_client = NULL;
	g->pending_timed_out = false;
	if (!client || client->dead)
		return;
	if (err)
		conn_send_error(d, client, seq, err, "%s", msg);
	else
		api_reply_guest(d, client, seq, g);
}

void snapshot_drop(struct zpsid *d, struct guest *g)
{
	char path[512];

	snapshot_path(d, g, path, sizeof(path));
	if (unlink(path) == 0)
		log_debug("%s: snapshot %s removed", g->name, path);
}

static void snapshot_drop_empty(struct zpsid *d, struct guest *g)
{
	char path[512];
	struct stat st;

	snapshot_path(d, g, path, sizeof(path));
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		snapshot_drop(d, g);
}

/* zpsid stops waiting for the VMM but the command goes on: the client
 * hears ETIMEDOUT; the guest's state follows the VMM's eventual answer. */
void pending_client_timeout(struct zpsid *d, struct guest *g)
{
	struct conn *client = g->pending_client;

	if (g->pending_timed_out)
		return;
	g->pending_timed_out = true;
	g->pending_client = NULL;
	log_warn("%s: the VMM has not finished %s in %u s; still waiting for it", g->name,
		 zpsi_ctl_power_name(g->pending_power), d->cfg.command_timeout_s);
	if (client && !client->dead)
		conn_send_error(d, client, g->pending_client_seq, -ETIMEDOUT,
				"the VMM has not finished %s in %u s; the command goes on (see zpsictl guest %s)",
				zpsi_ctl_power_name(g->pending_power), d->cfg.command_timeout_s, g->name);
}

void pending_fail(struct zpsid *d, struct guest *g, int err, const char *why)
{
	log_warn("%s: %s failed: %s", g->name, zpsi_ctl_power_name(g->pending_power), why);
	d->commands_failed++;
	finish(d, g, err, why);
}

void power_ack(struct zpsid *d, struct guest *g, const struct zpsi_ctl_msg *m)
{
	const struct zpsi_ctl_ack *a = &m->u.ack;
	uint8_t from;

	if (!g)
		return;
	if (g->pending != PENDING_POWER || m->re != g->pending_seq) {
		/* the answer to a set-weight or memory-target: only a refusal matters */
		if (!a->ok)
			log_warn("%s: the VMM refused a command: %s %s", g->name,
				 zpsi_ctl_errno_name(a->error), a->message);
		return;
	}
	if (!a->ok) {
		char why[ZPSI_CTL_TEXT_MAX + 32];

		snprintf(why, sizeof(why), "the VMM refused: %s%s%s", zpsi_ctl_errno_name(a->error),
			 a->message[0] ? ": " : "", a->message);
		/* The VMM answers when it is done: a C6 that did not happen
		 * left a partial file. */
		if (g->pending_power == ZPSI_POWER_C6 && a->has_power && a->power != ZPSI_POWER_C6)
			snapshot_drop(d, g);
		if (a->has_power && a->power != g->power) {
			g->power = a->power;
			zpsi_registry_set_power(d->reg, g->id, g->power, true, zpsi_mono_ns());
			guest_decide(d, g, true);
			d->state_urgent = true;
		}
		pending_fail(d, g, -a->error, why);
		return;
	}
	from = g->power;
	g->power = g->pending_power;
	zpsi_registry_set_power(d->reg, g->id, g->power, true, zpsi_mono_ns());
	if (from == ZPSI_POWER_C6 && g->power == ZPSI_POWER_C0)
		snapshot_drop(d, g);
	if (g->power == ZPSI_POWER_C6 && !a->bytes)
		snapshot_drop_empty(d, g);	/* it was in C6 already, its state elsewhere */
	if (g->power == ZPSI_POWER_C6 && a->bytes)
		log_notice("%s: %s -> C6 (%" PRIu64 " bytes saved)", g->name, zpsi_ctl_power_name(from), a->bytes);
	else
		log_notice("%s: %s -> %s", g->name, zpsi_ctl_power_name(from), zpsi_ctl_power_name(g->power));
	guest_decide(d, g, true);	/* release or restore the CPU allocation */
	d->state_urgent = true;
	finish(d, g, 0, NULL);
}
