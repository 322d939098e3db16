/* SPDX-License-Identifier: MIT */
/*
 * zpsid.h - the host daemon's shared state.  One thread owns everything:
 * the epoll loop in main.c dispatches to the modules below, so nothing here
 * needs a lock (libmicrohttpd runs in the same loop, without a thread).
 * The one other thread, persist.c's writer, only writes out documents the
 * loop hands it, so that an fsync never holds the loop up.
 */
#ifndef ZPSID_H
#define ZPSID_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "zpsi/ctl.h"
#include "zpsi/policy.h"
#include "zpsi/region.h"
#include "zpsi/registry.h"

#include "cgroup.h"

#define ZPSID_VERSION "0.1.0"
#define ZPSID_DECISIONS 8	/* recent decisions kept per guest */
#define ZPSID_MAX_BAD_PACKETS 16	/* a peer refused this often is closed */
#define ZPSID_SENDQ_MAX 32	/* packets queued to one peer before it is closed */
#define ZPSID_GUESTS_PER_PACKET 64

/* ---------------------------------------------------------------- */
/* log.c: syslog priority prefixes on stderr ("<6>..."), as journald reads */
/* ---------------------------------------------------------------- */
#include <syslog.h>
void log_set_level(int level);
int log_level_from_name(const char *s);	/* -EINVAL */
const char *log_level_name(int level);
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* ---------------------------------------------------------------- */
/* config.c                                                          */
/* ---------------------------------------------------------------- */
#define ZPSID_MAX_ALLOW_UIDS 16

struct zpsid_config {
	char socket[108];
	unsigned socket_mode;
	char state_dir[256];
	char metrics[64];		/* "ADDR:PORT" or "" = off */
	enum cg_mode cgroup_mode;
	char cgroup_root[256];		/* where the hierarchies are mounted */
	char cgroup_parent[256];	/* cgroup path of the VMs' parent, "/zpsi" */
	unsigned sample_hz;
	struct zpsi_policy policy;
	bool memory_enforce;
	bool guest_hibernate;
	unsigned reconnect_grace_s;
	unsigned command_timeout_s;
	unsigned checkpoint_s;
	unsigned max_guests;
	unsigned nallow_uids;
	uid_t allow_uids[ZPSID_MAX_ALLOW_UIDS];
	int log_level;
};

void config_defaults(struct zpsid_config *c);
/* Parse a config file into c (on top of what is there).  Errors are
 * reported with FILE:LINE on *err (malloc'ed).  0 or -errno. */
int config_load(struct zpsid_config *c, const char *path, char **err);
/* Set one key (also what --option=VALUE uses). */
int config_set(struct zpsid_config *c, const char *key, const char *value, char **err);
/* Print the effective configuration, one "key = value" a line, in a fixed
 * order (what -n prints; golden files compare it). */
void config_print(const struct zpsid_config *c, FILE *f);

/* ---------------------------------------------------------------- */
/* Guests and connections                                            */
/* ---------------------------------------------------------------- */

struct conn;

struct decision {
	uint64_t realtime_ns;
	uint16_t bp;
	uint8_t tier;
	uint8_t power;
	uint16_t share_bp;
	uint32_t cpu_quota_us;
	uint64_t mem_target_bytes;
	int error;		/* enforcement result, -errno or 0 */
};

enum pending_kind { PENDING_NONE, PENDING_POWER, PENDING_WEIGHT, PENDING_MEMORY };

struct guest {
	char name[ZPSI_CTL_NAME_MAX + 1];
	char token[ZPSI_CTL_TOKEN_LEN + 1];
	uint32_t id;			/* registry id */
	int32_t pid;
	uint64_t pid_start;		/* /proc/PID/stat starttime, detects pid reuse */
	int pidfd;
	uint32_t weight, vcpus, features;
	uint64_t mem_bytes;
	struct conn *conn;		/* NULL while detached */
	uint64_t detached_ns;		/* monotonic, when it lost its connection */
	struct zpsi_region *region;	/* NULL until the VMM is back after a restart */
	struct zpsi_region_reader rd;
	uint16_t bp;
	uint64_t committed, deferred;
	uint64_t samples, resets;
	bool reset_pending;		/* the VMM reported a counter reset */
	uint8_t power;
	struct zpsi_policy_state pst;
	struct zpsi_alloc alloc;	/* the current decision */
	uint64_t since_realtime_ns;	/* when it was taken */
	uint64_t mem_override;		/* 0 = auto (the policy's) */
	bool enforced;			/* the cgroup files hold alloc */
	int enforce_error;
	char *cgroup;			/* cgroup path, malloc'ed; NULL = none */
	bool cgroup_created;		/* ours to remove */
	uint64_t balloon_bytes, rss_bytes;
	/* one command at a time to the VMM */
	enum pending_kind pending;
	uint32_t pending_seq;
	uint8_t pending_power;
	uint64_t pending_deadline_ns;
	bool pending_timed_out;		/* the client heard ETIMEDOUT; still waiting */
	uint64_t pending_value;
	struct conn *pending_client;	/* who asked (zpsictl), or NULL */
	uint32_t pending_client_seq;
	unsigned ndecisions, decision_head;
	struct decision decisions[ZPSID_DECISIONS];
	bool removed;			/* in the graveyard until the batch ends */
	struct guest *hash_next;	/* hash chain, then graveyard list */
};

struct sendbuf {
	struct sendbuf *next;
	size_t len;
	int fd;				/* -1 or one fd to pass */
	char data[];
};

enum conn_role { ROLE_NEW, ROLE_VMM, ROLE_CLIENT };

struct conn {
	int fd;
	enum conn_role role;
	pid_t pid;
	uid_t uid;
	struct guest *guest;		/* ROLE_VMM */
	unsigned bad_packets;
	unsigned nqueued;
	struct sendbuf *q_head, *q_tail;
	bool want_out;
	bool dead;			/* conn_kill()ed: ignored until reaped */
	/* a chunked reply in progress (ROLE_CLIENT) */
	enum zpsi_ctl_type reply_type;
	uint32_t reply_re;
	uint32_t reply_cursor;		/* last guest id sent */
	bool reply_active;
	struct conn *next, *prev;
};

struct metrics;

struct zpsid {
	struct zpsid_config cfg;
	const char *config_path;
	char *cli_overrides[32];	/* "key=value" from the command line, re-applied on reload */
	unsigned ncli;
	int epfd, sigfd, timerfd, listenfd;
	struct zpsi_registry *reg;
	struct cg_mgr cg;
	struct guest **by_id;		/* indexed by registry id */
	uint32_t by_id_cap;
	struct guest **hash;		/* by name */
	unsigned nguests;
	struct conn *conns;
	unsigned ndead;
	bool accept_paused;
	struct guest *graveyard;
	struct doomed_cg *doomed_cgroups;	/* busy VM cgroups, removed later (guest.c) */
	uint32_t agg_bp, agg_written_bp;
	bool agg_valid;
	uint64_t start_mono_ns, start_realtime_ns;
	uint64_t last_checkpoint_ns;
	bool state_dirty;		/* decisions changed: saved within a second */
	bool state_urgent;		/* registrations, power, weight: at the next tick */
	bool quit;
	struct metrics *metrics;
	/* counters for metrics */
	uint64_t ticks, samples, samples_torn, samples_rejected, sample_ns;
	uint64_t decisions, enforce_errors, connections, protocol_errors, peers_refused;
	uint64_t guests_removed, commands_failed;
};

/* epoll tags: a pointer with its kind in the low bits (all are 8-aligned) */
enum tag_kind { TAG_LISTEN = 1, TAG_SIGNAL, TAG_TIMER, TAG_METRICS, TAG_CONN, TAG_PIDFD };
#define TAG(kind, ptr) ((void *)((uintptr_t)(ptr) | (kind)))

/* main.c */
int zpsid_epoll_add(struct zpsid *d, int fd, uint32_t events, void *tag);
int zpsid_epoll_mod(struct zpsid *d, int fd, uint32_t events, void *tag);

/* conn.c */
void conn_accept(struct zpsid *d);
/* After accept(2) ran out of fds the listening socket is not watched until
 * this (each tick). */
void conn_accept_resume(struct zpsid *d);
void conn_flush(struct zpsid *d, struct conn *c);
void conn_event(struct zpsid *d, struct conn *c, uint32_t events);
int conn_send(struct zpsid *d, struct conn *c, const struct zpsi_ctl_msg *m, int fd);
void conn_send_error(struct zpsid *d, struct conn *c, uint32_t re, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Mark for closing; the loop closes it after the current batch of events,
 * so no pointer to it goes stale while events are being handled. */
void conn_kill(struct zpsid *d, struct conn *c, const char *why);
void conn_reap(struct zpsid *d);
void conn_close_all(struct zpsid *d, bool say_bye);

/* guest.c */
struct guest *guest_by_name(struct zpsid *d, const char *name);
struct guest *guest_by_id(struct zpsid *d, uint32_t id);
void guest_hello(struct zpsid *d, struct conn *c, const struct zpsi_ctl_msg *m, int region_fd);
void guest_state(struct zpsid *d, struct guest *g, const struct zpsi_ctl_state *s);
void guest_detach(struct zpsid *d, struct guest *g, const char *why);
void guest_remove(struct zpsid *d, struct guest *g, const char *why);
void guest_pidfd_event(struct zpsid *d, struct guest *g);
void guest_reap(struct zpsid *d);	/* free removed guests (after a batch) */
/* Insert a guest restored from the state file (detached). */
int guest_restore(struct zpsid *d, struct guest *g, const struct zpsi_guest_info *info);
void guest_sample_all(struct zpsid *d);
void guest_tick(struct zpsid *d);	/* grace periods, command timeouts */
/* Re-decide (after a ratio change, a reload, a power change) and enforce. */
void guest_decide(struct zpsid *d, struct guest *g, bool force);
int guest_set_weight(struct zpsid *d, struct guest *g, uint32_t weight);
void guest_set_memory_override(struct zpsid *d, struct guest *g, uint64_t bytes);
void guests_free(struct zpsid *d);

/* power.c */
int power_request(struct zpsid *d, struct guest *g, uint8_t state, struct conn *client, uint32_t client_seq);
void power_ack(struct zpsid *d, struct guest *g, const struct zpsi_ctl_msg *m);
void pending_fail(struct zpsid *d, struct guest *g, int err, const char *why);
void pending_client_timeout(struct zpsid *d, struct guest *g);
/* Remove the guest's C6 file in the state directory, if there is one. */
void snapshot_drop(struct zpsid *d, struct guest *g);
int send_command(struct zpsid *d, struct guest *g, enum pending_kind kind, uint64_t value,
		 struct conn *client, uint32_t client_seq);

/* api.c */
void api_query(struct zpsid *d, struct conn *c, const struct zpsi_ctl_msg *m);
void api_reply_continue(struct zpsid *d, struct conn *c);
json_t *api_guest_json(struct zpsid *d, const struct guest *g, bool details);
void api_reply_guest(struct zpsid *d, struct conn *c, uint32_t re, const struct guest *g);

/* persist.c */
/* Hand the state to the writer thread (the fsync does not hold up the
 * loop); returns an earlier write's failure, if any. */
int persist_save(struct zpsid *d);
/* Stop the writer and save now, waiting for the disk (shutdown). */
int persist_save_now(struct zpsid *d);
int persist_load(struct zpsid *d);

/* metrics.c */
int metrics_start(struct zpsid *d, const char *addr);
void metrics_stop(struct zpsid *d);
void metrics_event(struct zpsid *d);
void metrics_tick(struct zpsid *d);	/* connection timeouts */
unsigned metrics_port(const struct zpsid *d);	/* 0 when off */

/* notify.c: sd_notify(3)'s protocol, by hand */
int notify_send(const char *state);

#endif /* ZPSID_H */
