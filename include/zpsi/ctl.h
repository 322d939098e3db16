/* SPDX-License-Identifier: MIT */
/*
 * zpsi/ctl.h - the control protocol between zpsid and its peers (libzpsi):
 * zpsi-vmm (register a VM, pass its region fd, obey power commands) and
 * zpsictl (status, guests, wake, set).  docs/control.md is the contract.
 *
 * Transport: a unix SOCK_SEQPACKET socket.  One JSON object per packet, at
 * most ZPSI_CTL_MSG_MAX bytes, file descriptors as SCM_RIGHTS on the packet
 * they belong to.  Every function returns 0 or -errno and writes its outputs
 * only on success; nothing here logs or exits.
 */
#ifndef ZPSI_CTL_H
#define ZPSI_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define ZPSI_CTL_PROTO_VERSION	1u
#define ZPSI_CTL_MSG_MAX	65536u	/* bytes of one packet, checked before allocating */
#define ZPSI_CTL_FDS_MAX	4u	/* fds accepted with one packet; more are closed */
#define ZPSI_CTL_NAME_MAX	63u	/* VM names: [A-Za-z0-9][A-Za-z0-9._-]{0,62} */
#define ZPSI_CTL_PATH_MAX	255u	/* cgroup and file paths carried in messages */
#define ZPSI_CTL_TEXT_MAX	255u	/* reasons, error messages, keys, values */
#define ZPSI_CTL_TIDS_MAX	256u	/* vCPU thread ids in a hello */
#define ZPSI_CTL_TOKEN_LEN	32u	/* resume token: 32 lowercase hex digits */
#define ZPSI_CTL_VCPUS_MAX	1024u
#define ZPSI_CTL_MEM_MAX	(1ull << 52)	/* bytes; 4 PiB */
#define ZPSI_CTL_REPLY_MAX	(64u << 20)	/* a client's bound on one assembled reply */
#define ZPSI_CTL_DEFAULT_SOCKET	"/run/zpsi/zpsid.sock"

/* Message types; the wire name is in the table in ctl.c (and control.md). */
enum zpsi_ctl_type {
	ZPSI_CTL_INVALID = 0,
	/* VMM -> zpsid */
	ZPSI_CTL_HELLO,		/* "hello": register, with the region fd */
	ZPSI_CTL_STATE,		/* "state": the VMM reports a change (no reply) */
	ZPSI_CTL_ACK,		/* "ack": the answer to a zpsid command */
	/* zpsid -> VMM */
	ZPSI_CTL_WELCOME,	/* "welcome": hello accepted */
	ZPSI_CTL_POWER,		/* "power": enter a power state (C6/wake carry an fd) */
	ZPSI_CTL_SET_WEIGHT,	/* "set-weight" */
	ZPSI_CTL_MEM_TARGET,	/* "memory-target" (also written to host_info) */
	/* either direction */
	ZPSI_CTL_BYE,		/* "bye": orderly end of the conversation */
	ZPSI_CTL_ERROR,		/* "error": a request refused */
	/* zpsictl -> zpsid */
	ZPSI_CTL_STATUS,	/* "status" */
	ZPSI_CTL_GUESTS,	/* "guests" */
	ZPSI_CTL_GUEST,		/* "guest": name */
	ZPSI_CTL_WAKE,		/* "wake": name */
	ZPSI_CTL_SET,		/* "set": name, key, value */
	/* zpsid -> zpsictl */
	ZPSI_CTL_REPLY,		/* "reply": a JSON body, possibly in several packets */
	ZPSI_CTL_TYPE_COUNT
};

const char *zpsi_ctl_type_name(enum zpsi_ctl_type t);
/* ZPSI_CTL_INVALID for an unknown name. */
enum zpsi_ctl_type zpsi_ctl_type_from_name(const char *name);

/* Feature bits a VMM announces in its hello ("features": ["c3", ...]). */
enum {
	ZPSI_CTL_F_C3		= 1u << 0,	/* can pause its vCPUs */
	ZPSI_CTL_F_C6		= 1u << 1,	/* can save to / restore from an fd */
	ZPSI_CTL_F_BALLOON	= 1u << 2,	/* honours a memory target */
};

struct zpsi_ctl_hello {
	uint32_t proto;			/* ZPSI_CTL_PROTO_VERSION */
	char name[ZPSI_CTL_NAME_MAX + 1];
	int32_t pid;			/* must be the connecting process (SO_PEERCRED) */
	uint32_t weight;		/* 1..65535 */
	uint32_t vcpus;			/* 1..1024 */
	uint64_t mem_bytes;		/* configured guest RAM */
	char cgroup[ZPSI_CTL_PATH_MAX + 1];	/* "" = let zpsid create one */
	uint32_t ntids;			/* 0 = move the whole process */
	int32_t tids[ZPSI_CTL_TIDS_MAX];	/* vCPU threads of `pid` */
	char resume_token[ZPSI_CTL_TOKEN_LEN + 1];	/* "" = a new VM */
	uint32_t features;		/* ZPSI_CTL_F_* */
	uint8_t power;			/* the state the VM is in (a resuming VMM knows best) */
};

struct zpsi_ctl_welcome {
	uint32_t guest_id;
	char resume_token[ZPSI_CTL_TOKEN_LEN + 1];
	bool restored;			/* an earlier registration was resumed */
	uint8_t power;			/* enum zpsi_power_state zpsid holds */
	uint64_t mem_target_bytes;	/* 0 = none */
	double aggregate_psi;		/* [0, 1] */
};

/* VMM -> zpsid notification; a field is present when its has_ flag is set. */
struct zpsi_ctl_state {
	bool has_power, has_power_request, has_weight, has_balloon, has_rss;
	uint8_t power;			/* the state the VMM is in now */
	uint8_t power_request;		/* the guest asked for C3/C6 (HC_PSI_HIBERNATE) */
	uint32_t weight;		/* the guest's own HC_PSI_REGISTER weight */
	uint64_t balloon_bytes;		/* guest memory currently given back */
	uint64_t rss_bytes;		/* the VMM's resident set */
	bool counters_reset;		/* the guest reset its counts (PSI_CTRL_MSR.RESET) */
};

struct zpsi_ctl_power {
	uint8_t state;			/* 0, 1, 3, 6 */
	char path[ZPSI_CTL_PATH_MAX + 1];	/* C6 / wake from C6: the file (for logs) */
};

struct zpsi_ctl_ack {
	bool ok;
	int error;			/* positive errno when !ok */
	bool has_power;
	uint8_t power;			/* the state after the command */
	uint64_t bytes;			/* C6: bytes saved; 0 if not reported */
	char message[ZPSI_CTL_TEXT_MAX + 1];
};

struct zpsi_ctl_bye {
	char reason[ZPSI_CTL_TEXT_MAX + 1];
	bool reconnect;			/* zpsid: "come back with your token" */
};

struct zpsi_ctl_error {
	int error;			/* positive errno */
	char message[ZPSI_CTL_TEXT_MAX + 1];
};

/* status, guests, guest, wake, set */
struct zpsi_ctl_query {
	char name[ZPSI_CTL_NAME_MAX + 1];
	char key[ZPSI_CTL_TEXT_MAX + 1];
	char value[ZPSI_CTL_TEXT_MAX + 1];
};

struct zpsi_ctl_msg {
	enum zpsi_ctl_type type;
	uint32_t seq;	/* the sender's request number, 0 = none */
	uint32_t re;	/* the request this answers, 0 = none */
	union {
		struct zpsi_ctl_hello hello;
		struct zpsi_ctl_welcome welcome;
		struct zpsi_ctl_state state;
		struct zpsi_ctl_ack ack;
		struct zpsi_ctl_power power;
		uint32_t weight;		/* set-weight */
		uint64_t mem_target_bytes;	/* memory-target */
		struct zpsi_ctl_bye bye;
		struct zpsi_ctl_error error;
		struct zpsi_ctl_query query;
	} u;
	/* reply: the body object (without type/re/more), owned; else NULL */
	json_t *body;
	bool more;	/* reply: further packets of the same reply follow */
};

/* Release what a message owns (its body); the message itself stays. */
void zpsi_ctl_msg_done(struct zpsi_ctl_msg *m);

/* Strict checks used by both sides. */
bool zpsi_ctl_name_valid(const char *name);
bool zpsi_ctl_token_valid(const char *token);
/* "C0".."C6" <-> 0, 1, 3, 6; -EINVAL for anything else. */
int zpsi_ctl_power_from_name(const char *s, uint8_t *out);
const char *zpsi_ctl_power_name(uint8_t state);
/* "EINVAL" <-> EINVAL for the errnos the protocol uses; unknown -> "EIO"/EIO. */
const char *zpsi_ctl_errno_name(int err);
int zpsi_ctl_errno_from_name(const char *name);

/*
 * Decode one packet.  The bytes are untrusted: JSON via jansson (duplicate
 * keys rejected), an object with a known "type", every field of that type
 * checked for JSON type and range, unknown fields ignored.
 *   -EBADMSG     not a JSON object, or longer than ZPSI_CTL_MSG_MAX
 *   -EOPNOTSUPP  unknown "type"
 *   -EINVAL      a field missing, of the wrong type, or out of range
 *   -ENOMEM
 * On success *out is filled (zpsi_ctl_msg_done() it); on failure untouched.
 */
int zpsi_ctl_decode(const void *buf, size_t len, struct zpsi_ctl_msg *out);

/* Encode a message; *buf is NUL-terminated, malloc'ed, *len excludes the
 * NUL.  -EINVAL for a message decode would refuse, -EMSGSIZE past the
 * maximum. */
int zpsi_ctl_encode(const struct zpsi_ctl_msg *m, char **buf, size_t *len);

/* ---------------------------------------------------------------- */
/* Transport                                                         */
/* ---------------------------------------------------------------- */

/* Bind and listen on `path` (SOCK_SEQPACKET, CLOEXEC, NONBLOCK).  A stale
 * socket file (nobody listening) is replaced; a live one is -EADDRINUSE.
 * The socket file gets `mode` before anyone can connect. */
int zpsi_ctl_listen(const char *path, mode_t mode, int backlog, int *fd_out);
/* Connect (blocking, CLOEXEC). */
int zpsi_ctl_connect(const char *path, int *fd_out);

/* Send one packet with up to ZPSI_CTL_FDS_MAX fds (never SIGPIPE).
 * -EAGAIN on a full non-blocking socket, -EPIPE when the peer is gone. */
int zpsi_ctl_send_raw(int fd, const void *buf, size_t len, const int *fds, size_t nfds);
int zpsi_ctl_send(int fd, const struct zpsi_ctl_msg *m, const int *fds, size_t nfds);

/*
 * Receive one packet, waiting up to timeout_ms (-1 forever, 0 not at all).
 * Its length is read first (MSG_PEEK|MSG_TRUNC) and a packet above
 * ZPSI_CTL_MSG_MAX is discarded unread (-EMSGSIZE) before anything is
 * allocated.  fds (CLOEXEC) go to fds[0..*nfds) (room for
 * ZPSI_CTL_FDS_MAX); fds beyond that are closed by the kernel and the call
 * fails with -EMSGSIZE after closing the ones it got.
 *   -ETIMEDOUT  nothing arrived in time      -ECONNRESET  the peer closed
 */
int zpsi_ctl_recv_raw(int fd, int timeout_ms, char **buf, size_t *len, int *fds, size_t *nfds);
/* The same, decoded.  On a decode error the received fds are closed. */
int zpsi_ctl_recv(int fd, int timeout_ms, struct zpsi_ctl_msg *m, int *fds, size_t *nfds);

/* Close fds[0..n) and set them to -1. */
void zpsi_ctl_close_fds(int *fds, size_t n);

/* Client helper: send a query (status ... set) with a fresh seq, then read
 * packets until its whole reply has arrived (concatenating the "guests"
 * arrays of a reply that comes in several packets, at most
 * ZPSI_CTL_REPLY_MAX bytes in all).  An "error" reply is returned as its
 * -errno with *reply set to the error object {"error", "message"}.
 * Unrelated packets (none expected on a client connection) are skipped. */
int zpsi_ctl_request(int fd, const struct zpsi_ctl_msg *req, int timeout_ms, json_t **reply);

/* VMM helper: connect, send a hello with the region fd, wait for the
 * welcome (or an error, returned as its -errno).  *fd_out is the connected
 * socket; the VMM then polls it and answers power commands with
 * zpsi_ctl_send() of an ack. */
int zpsi_ctl_vmm_register(const char *path, const struct zpsi_ctl_hello *hello, int region_fd,
			  int timeout_ms, int *fd_out, struct zpsi_ctl_welcome *welcome);

#endif /* ZPSI_CTL_H */
