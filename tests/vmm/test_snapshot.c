/* SPDX-License-Identifier: MIT */
/*
 * test_snapshot.c - save/restore continuity, proven with a counter.  A
 * workload runs with --state-out; after a few progress lines SIGUSR2 saves
 * it and the VMM exits.  --restore then continues the guest exactly where
 * it stopped: the first progress line after the restore is the next one
 * after the last line before the save (a restart would count from 5000
 * again), the counts carry on, the run ends at the configured total, and
 * two restores of one file print the same thing.  Through the region
 * report path too (the region is re-pointed after the restore).  Corrupt,
 * truncated and foreign state files are refused (status 125).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmmtest.h"

#define OPS "60000"

static long long last_progress(const char *out, char *line, size_t size)
{
	return vt_grep(out, "progress ", line, size) ? vt_field(line, "ops") : -1;
}

static void save_and_restore(const char *report)
{
	char state[256], line[512], before[512] = "", first_after[512] = "", done[512] = "";
	struct vt_proc p, r1, r2;
	long long saved_ops;
	int st, seen = 0;

	vt_tmpname(state, sizeof(state), "state");
	vt_spawn(&p, (const char *const[]){ "--payload", "workload", "--ops", OPS, "--report", report,
					    "--profile", "const:25", "--state-out", state, "--timeout", "60", NULL });
	while (seen < 2 && vt_next_line(&p, line, sizeof(line), 30000))
		seen += strncmp(line, "progress ", 9) == 0;
	VT_CHECK(seen == 2, "%s: two progress lines before the save", report);
	kill(p.pid, SIGUSR2);
	st = vt_finish(&p);
	VT_CHECK(st == 0, "%s: save and exit: status %d", report, st);
	saved_ops = last_progress(p.out, before, sizeof(before));
	VT_CHECK(saved_ops >= 10000 && saved_ops < atoll(OPS), "%s: saved mid-run at %lld ops", report, saved_ops);
	VT_CHECK(!strstr(p.out, "workload: done"), "%s: the guest did not finish before the save", report);
	VT_CHECK(access(state, R_OK) == 0, "%s: state file written", report);

	st = vt_run(&r1, (const char *const[]){ "--restore", state, "--timeout", "60", NULL });
	VT_CHECK(st == 0, "%s: restore: status %d", report, st);
	VT_CHECK(!strstr(r1.out, "workload: 6"), "%s: the restored guest did not start again", report);
	VT_CHECK(vt_grep(r1.out, "progress ", NULL, 0) > 0, "%s: progress after the restore", report);
	{
		const char *l = strstr(r1.out, "progress ");

		if (l)
			snprintf(first_after, sizeof(first_after), "%.*s", (int)strcspn(l, "\n"), l);
	}
	VT_CHECK(vt_field(first_after, "ops") == saved_ops + 5000, "%s: counter continues: before '%s', after '%s'",
		 report, before, first_after);
	VT_CHECK(vt_field(first_after, "committed") > vt_field(before, "committed") &&
		 vt_field(first_after, "deferred") > vt_field(before, "deferred"), "%s: counts carry on", report);
	VT_CHECK(strstr(first_after, "aggregate=25.00%"), "%s: the restored guest is registered: %s", report,
		 first_after);
	VT_CHECK(vt_grep(r1.out, "workload: done", done, sizeof(done)) == 1 && vt_field(done, "ops") == atoll(OPS),
		 "%s: ends at %s ops: %s", report, OPS, done);

	st = vt_run(&r2, (const char *const[]){ "--restore", state, "--timeout", "60", NULL });
	VT_CHECK(st == 0 && strcmp(r1.out, r2.out) == 0, "%s: a second restore prints the same", report);
	vt_proc_free(&p);
	vt_proc_free(&r1);
	vt_proc_free(&r2);
	unlink(state);
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	fwrite(data, 1, len, f);
	fclose(f);
}

static void hostile_state_files(void)
{
	char state[256], bad[256];
	struct vt_proc p;
	FILE *f;
	char *buf;
	long len;
	int st;

	vt_tmpname(state, sizeof(state), "state");
	vt_tmpname(bad, sizeof(bad), "bad");
	/* A VM that saves at once: the idle guest parks, then SIGUSR2. */
	vt_spawn(&p, (const char *const[]){ "--payload", "workload", "--profile", "idle:0", "--param", "1000",
					    "--state-out", state, "--timeout", "60", NULL });
	{
		char line[256];
		bool parked = false;

		while (!parked && vt_next_line(&p, line, sizeof(line), 30000))
			parked = strcmp(line, "idle: entering C1") == 0;
		VT_CHECK(parked, "the idle guest parked");
	}
	kill(p.pid, SIGUSR2);
	VT_CHECK(vt_finish(&p) == 0, "saved");
	vt_proc_free(&p);

	f = fopen(state, "rb");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len);
	VT_CHECK(fread(buf, 1, (size_t)len, f) == (size_t)len, "read the state file");
	fclose(f);

	buf[len / 2] ^= 0x40;
	write_file(bad, buf, (size_t)len);
	st = vt_run(&p, (const char *const[]){ "--restore", bad, "--timeout", "10", NULL });
	VT_CHECK(st == 125, "a corrupt state file is refused: %d", st);
	vt_proc_free(&p);
	buf[len / 2] ^= 0x40;

	write_file(bad, buf, (size_t)len - 100);
	st = vt_run(&p, (const char *const[]){ "--restore", bad, "--timeout", "10", NULL });
	VT_CHECK(st == 125, "a truncated state file is refused: %d", st);
	vt_proc_free(&p);

	write_file(bad, buf + 32, (size_t)len - 32);
	st = vt_run(&p, (const char *const[]){ "--restore", bad, "--timeout", "10", NULL });
	VT_CHECK(st == 125, "a file without the header is refused: %d", st);
	vt_proc_free(&p);

	st = vt_run(&p, (const char *const[]){ "--restore", getenv("ZPSI_VMM"), "--timeout", "10", NULL });
	VT_CHECK(st == 125, "a foreign file is refused: %d", st);
	vt_proc_free(&p);

	/* The intact file still works.  (The save may have caught the guest
	 * just before its HLT, with its alarm armed: then the alarm wakes it;
	 * test_power checks that a restore wakes a parked guest.) */
	st = vt_run(&p, (const char *const[]){ "--restore", state, "--timeout", "60", NULL });
	VT_CHECK(st == 0 && strstr(p.out, "idle: woke from C1 ("), "the intact file restores: %d\n%s", st, p.out);
	vt_proc_free(&p);
	free(buf);
	unlink(bad);
	unlink(state);
}

int main(void)
{
	vt_require_kvm();
	save_and_restore("hypercall");
	save_and_restore("region");
	hostile_state_files();
	return vt_done("snapshot");
}
