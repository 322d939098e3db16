/* SPDX-License-Identifier: MIT */
/*
 * persist.c - what survives a kill -9: STATE_DIR/guests.json, written
 * atomically (temporary file, fsync, rename, fsync of the directory) so a
 * crash leaves either the old file or the new one, never half of one.
 * The file is zpsid's own but read back as untrusted all the same: every
 * entry is checked, and a bad one is skipped, not fatal.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zpsid.h"
#include "zpsi/util.h"

#define STATE_VERSION 1
#define STATE_FILE_MAX (256u << 20)

static json_t *guest_record(struct zpsid *d, const struct guest *g)
{
	struct zpsi_guest_info info = { 0 };

	zpsi_registry_get(d->reg, g->id, &info);
	return json_pack("{s:s,s:s,s:i,s:I,s:i,s:i,s:I,s:i,s:o,s:b,s:s,s:i,s:I,s:I,s:I,s:I,s:b,s:i,s:I,s:I,s:I}",
		"name", g->name, "token", g->token, "pid", (json_int_t)g->pid,
		"pid_start", (json_int_t)(g->pid_start & INT64_MAX), "weight", (json_int_t)g->weight,
		"vcpus", (json_int_t)g->vcpus, "memory_bytes", (json_int_t)g->mem_bytes,
		"features", (json_int_t)g->features,
		"cgroup", g->cgroup ? json_string(g->cgroup) : json_null(),
		"cgroup_created", g->cgroup_created, "power", zpsi_ctl_power_name(g->power),
		"psi_bp", (json_int_t)info.ratio_bp,
		"committed", (json_int_t)(info.committed & INT64_MAX),
		"deferred", (json_int_t)(info.deferred & INT64_MAX),
		"updates", (json_int_t)(info.updates & INT64_MAX),
		"samples", (json_int_t)(g->samples & INT64_MAX),
		"tier_valid", g->pst.valid, "tier", (json_int_t)g->pst.tier,
		"since", (json_int_t)(g->since_realtime_ns & INT64_MAX),
		"memory_override", (json_int_t)g->mem_override,
		"balloon_bytes", (json_int_t)g->balloon_bytes);
}

/* The document in one buffer, written in as few write()s as the kernel
 * allows (jansson's json_dumpfd() issues one per token: ~10^6 system calls
 * for 10,000 guests), atomically. */
static int write_file(const char *dir, const char *text, size_t len)
{
	char path[512], tmp[520];
	size_t off = 0;
	int fd, dfd, r = 0;

	snprintf(path, sizeof(path), "%s/guests.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);	/* the rename itself */
		close(dfd);
	}
	return 0;
}

/*
 * The disk part of a save runs on a writer thread: an fsync can take long
 * on a busy disk, and the event loop must not wait for it (samples,
 * commands, wakes).  The loop builds the document and hands it over; a
 * newer document replaces one not yet taken, so the writer never falls
 * behind by more than one.  The thread touches nothing but this struct.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, quit, busy;
	char *doc;		/* waiting to be written, malloc'ed */
	size_t len;
	char dir[256];
	int error;		/* the last write that failed, not yet reported */
} wr = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void *writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wr.lock);
	for (;;) {
		char dir[sizeof(wr.dir)], *doc;
		size_t len;
		int r;

		while (!wr.doc && !wr.quit)
			pthread_cond_wait(&wr.cond, &wr.lock);
		if (!wr.doc)
			break;
		doc = wr.doc;
		len = wr.len;
		wr.doc = NULL;
		wr.busy = true;
		memcpy(dir, wr.dir, sizeof(dir));
		pthread_mutex_unlock(&wr.lock);
		r = write_file(dir, doc, len);
		free(doc);
		pthread_mutex_lock(&wr.lock);
		wr.busy = false;
		if (r < 0)
			wr.error = r;
		pthread_cond_broadcast(&wr.cond);
	}
	pthread_mutex_unlock(&wr.lock);
	return NULL;
}

static char *build_document(struct zpsid *d, size_t *len)
{
	json_t *root, *arr = json_array();
	char *text;

	if (!arr)
		return NULL;
	for (uint32_t id = zpsi_registry_next(d->reg, 0); id; id = zpsi_registry_next(d->reg, id)) {
		struct guest *g = guest_by_id(d, id);
		json_t *rec;

		if (!g)
			continue;
		rec = guest_record(d, g);
		if (!rec || json_array_append_new(arr, rec) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	root = json_pack("{s:i,s:I,s:o}", "version", STATE_VERSION, "saved",
			 (json_int_t)(zpsi_now_ns(CLOCK_REALTIME) / ZPSI_NSEC_PER_SEC), "guests", arr);
	if (!root)
		return NULL;
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text)
		*len = strlen(text);
	return text;
}

int persist_save(struct zpsid *d)
{
	size_t len = 0;
	char *text = build_document(d, &len);
	int r = 0;

	if (!text)
		return -ENOMEM;
	pthread_mutex_lock(&wr.lock);
	if (!wr.started) {
		/* zpsid blocks its signals before anything else: the thread
		 * inherits the mask, so signals still reach the signalfd */
		r = -pthread_create(&wr.thread, NULL, writer_main, NULL);
		wr.started = r == 0;
	}
	if (r == 0) {
		free(wr.doc);	/* superseded before it was written */
		wr.doc = text;
		wr.len = len;
		snprintf(wr.dir, sizeof(wr.dir), "%s", d->cfg.state_dir);
		pthread_cond_broadcast(&wr.cond);
		r = wr.error;
		wr.error = 0;
	}
	pthread_mutex_unlock(&wr.lock);
	if (!wr.started) {	/* no thread: write it here */
		r = write_file(d->cfg.state_dir, text, len);
		free(text);
	}
	return r;
}

int persist_save_now(struct zpsid *d)
{
	size_t len = 0;
	char *text;
	int r;

	pthread_mutex_lock(&wr.lock);
	if (wr.started) {
		free(wr.doc);	/* the document below is newer */
		wr.doc = NULL;
		wr.quit = true;
		pthread_cond_broadcast(&wr.cond);
		pthread_mutex_unlock(&wr.lock);
		pthread_join(wr.thread, NULL);
		pthread_mutex_lock(&wr.lock);
		wr.started = wr.quit = false;
		if (wr.error)
			log_err("an earlier save failed: %s", strerror(-wr.error));
		wr.error = 0;
	}
	pthread_mutex_unlock(&wr.lock);
	text = build_document(d, &len);
	if (!text)
		return -ENOMEM;
	r = write_file(d->cfg.state_dir, text, len);
	free(text);
	return r;
}

static int get_int(json_t *o, const char *key, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int restore_one(struct zpsid *d, json_t *o)
{
	struct zpsi_guest_info info = { 0 };
	struct guest *g;
	json_t *v;
	uint64_t pid, start, weight, vcpus, mem, features, bp, committed, deferred, updates, samples,
		tier, since, override, balloon;
	uint8_t power;
	int r;

	if (!json_is_object(o))
		return -EINVAL;
	if (get_int(o, "pid", INT32_MAX, &pid) < 0 || get_int(o, "pid_start", INT64_MAX, &start) < 0 ||
	    get_int(o, "weight", ZPSI_WEIGHT_MAX, &weight) < 0 || weight < ZPSI_WEIGHT_MIN ||
	    get_int(o, "vcpus", ZPSI_CTL_VCPUS_MAX, &vcpus) < 0 ||
	    get_int(o, "memory_bytes", ZPSI_CTL_MEM_MAX, &mem) < 0 ||
	    get_int(o, "features", UINT32_MAX, &features) < 0 ||
	    get_int(o, "psi_bp", ZPSI_BP_MAX, &bp) < 0 ||
	    get_int(o, "committed", INT64_MAX, &committed) < 0 ||
	    get_int(o, "deferred", INT64_MAX, &deferred) < 0 ||
	    get_int(o, "updates", INT64_MAX, &updates) < 0 ||
	    get_int(o, "samples", INT64_MAX, &samples) < 0 ||
	    get_int(o, "tier", ZPSI_POLICY_MAX_TIERS - 1, &tier) < 0 ||
	    get_int(o, "since", INT64_MAX, &since) < 0 ||
	    get_int(o, "memory_override", ZPSI_CTL_MEM_MAX, &override) < 0 ||
	    get_int(o, "balloon_bytes", ZPSI_CTL_MEM_MAX, &balloon) < 0 ||
	    !json_is_string(json_object_get(o, "power")) ||
	    zpsi_ctl_power_from_name(json_string_value(json_object_get(o, "power")), &power) < 0)
		return -EINVAL;
	v = json_object_get(o, "name");
	if (!json_is_string(v) || !zpsi_ctl_name_valid(json_string_value(v)))
		return -EINVAL;
	if (!json_is_string(json_object_get(o, "token")) ||
	    !zpsi_ctl_token_valid(json_string_value(json_object_get(o, "token"))))
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	strcpy(g->name, json_string_value(v));
	strcpy(g->token, json_string_value(json_object_get(o, "token")));
	g->pid = (int32_t)pid;
	g->pid_start = start;
	g->weight = (uint32_t)weight;
	g->vcpus = (uint32_t)vcpus;
	g->mem_bytes = mem;
	g->features = (uint32_t)features;
	g->power = power;
	g->bp = (uint16_t)bp;
	g->committed = committed;
	g->deferred = deferred;
	g->samples = samples;
	g->since_realtime_ns = since;
	g->mem_override = override;
	g->balloon_bytes = balloon;
	g->pst.valid = json_is_true(json_object_get(o, "tier_valid"));
	g->pst.tier = (unsigned)tier;
	g->pst.since_ns = zpsi_mono_ns();
	v = json_object_get(o, "cgroup");
	if (json_is_string(v) && d->cg.mode != CG_NONE && cg_path_under_parent(&d->cg, json_string_value(v))) {
		g->cgroup = strdup(json_string_value(v));
		g->cgroup_created = json_is_true(json_object_get(o, "cgroup_created"));
	}
	info.weight = g->weight;
	info.ratio_bp = g->bp;
	info.power = power;
	info.committed = committed;
	info.deferred = deferred;
	info.updates = updates;
	info.registered_ns = info.last_update_ns = zpsi_mono_ns();
	r = guest_restore(d, g, &info);
	if (r < 0) {
		log_notice("%s: not restored (%s)", g->name,
			   r == -ESRCH ? "its VMM is gone" : strerror(-r));
		if (g->cgroup && g->cgroup_created)
			cg_remove(&d->cg, g->cgroup);
		free(g->cgroup);
		free(g);
		return r == -ESRCH ? 0 : r;
	}
	guest_decide(d, g, true);
	log_info("%s: restored (pid %d), waiting %u s for its VMM", g->name, g->pid,
		 d->cfg.reconnect_grace_s);
	return 0;
}

int persist_load(struct zpsid *d)
{
	char path[512];
	json_error_t jerr;
	struct stat st;
	json_t *root, *arr;
	size_t i;

	snprintf(path, sizeof(path), "%s/guests.json", d->cfg.state_dir);
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > STATE_FILE_MAX)
		return -EFBIG;
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return -EBADMSG;
	arr = json_object_get(root, "guests");
	if (!json_is_integer(json_object_get(root, "version")) ||
	    json_integer_value(json_object_get(root, "version")) != STATE_VERSION || !json_is_array(arr)) {
		json_decref(root);
		return -EBADMSG;
	}
	for (i = 0; i < json_array_size(arr) && i < d->cfg.max_guests; i++) {
		int r = restore_one(d, json_array_get(arr, i));

		if (r < 0)
			log_warn("state file entry %zu skipped: %s", i, strerror(-r));
	}
	json_decref(root);
	d->state_dirty = true;
	return 0;
}
