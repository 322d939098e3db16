/* SPDX-License-Identifier: MIT */
/* test_ctl.c - the control protocol: codec round trips, hostile packets,
 * and the SEQPACKET transport (sizes, fds, EOF, timeouts) over socketpairs. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "zpsi/ctl.h"
#include "zpsi/util.h"

static int decode_str(const char *s, struct zpsi_ctl_msg *m)
{
	memset(m, 0, sizeof(*m));
	return zpsi_ctl_decode(s, strlen(s), m);
}

static void test_names(void **state)
{
	uint8_t p = 99;

	(void)state;
	assert_true(zpsi_ctl_name_valid("vm0"));
	assert_true(zpsi_ctl_name_valid("a.b_c-d"));
	assert_false(zpsi_ctl_name_valid(""));
	assert_false(zpsi_ctl_name_valid(".hidden"));
	assert_false(zpsi_ctl_name_valid("-x"));
	assert_false(zpsi_ctl_name_valid("a/b"));
	assert_false(zpsi_ctl_name_valid("a b"));
	char longn[80];
	memset(longn, 'a', sizeof(longn));
	longn[63] = '\0';
	assert_true(zpsi_ctl_name_valid(longn));
	longn[63] = 'a';
	longn[64] = '\0';
	assert_false(zpsi_ctl_name_valid(longn));
	assert_true(zpsi_ctl_token_valid("0123456789abcdef0123456789abcdef"));
	assert_false(zpsi_ctl_token_valid("0123456789ABCDEF0123456789abcdef"));
	assert_false(zpsi_ctl_token_valid("0123456789abcdef0123456789abcde"));
	assert_int_equal(zpsi_ctl_power_from_name("C6", &p), 0);
	assert_int_equal(p, 6);
	assert_int_equal(zpsi_ctl_power_from_name("C2", &p), -EINVAL);
	assert_int_equal(zpsi_ctl_power_from_name("c0", &p), -EINVAL);
	assert_string_equal(zpsi_ctl_power_name(3), "C3");
	assert_string_equal(zpsi_ctl_power_name(2), "invalid");
	assert_string_equal(zpsi_ctl_errno_name(-EEXIST), "EEXIST");
	assert_int_equal(zpsi_ctl_errno_from_name("EPERM"), EPERM);
	assert_int_equal(zpsi_ctl_errno_from_name("EWHATEVER"), EIO);
	for (int t = 1; t < ZPSI_CTL_TYPE_COUNT; t++)
		assert_int_equal(zpsi_ctl_type_from_name(zpsi_ctl_type_name(t)), t);
	assert_int_equal(zpsi_ctl_type_from_name("nope"), ZPSI_CTL_INVALID);
}

static void test_hello_roundtrip(void **state)
{
	struct zpsi_ctl_msg m = { .type = ZPSI_CTL_HELLO, .seq = 7 }, d;
	char *buf;
	size_t len;

	(void)state;
	strcpy(m.u.hello.name, "vm-7");
	m.u.hello.pid = 4242;
	m.u.hello.weight = 65535;
	m.u.hello.vcpus = 4;
	m.u.hello.mem_bytes = 1ull << 40;
	m.u.hello.ntids = 2;
	m.u.hello.tids[0] = 4243;
	m.u.hello.tids[1] = 4244;
	strcpy(m.u.hello.resume_token, "00112233445566778899aabbccddeeff");
	strcpy(m.u.hello.cgroup, "/sys/fs/cgroup/cpu/zpsi/vm-7");
	m.u.hello.features = ZPSI_CTL_F_C3 | ZPSI_CTL_F_BALLOON;
	assert_int_equal(zpsi_ctl_encode(&m, &buf, &len), 0);
	assert_int_equal(zpsi_ctl_decode(buf, len, &d), 0);
	free(buf);
	assert_int_equal(d.type, ZPSI_CTL_HELLO);
	assert_int_equal(d.seq, 7);
	assert_int_equal(d.u.hello.proto, ZPSI_CTL_PROTO_VERSION);
	assert_string_equal(d.u.hello.name, "vm-7");
	assert_int_equal(d.u.hello.pid, 4242);
	assert_int_equal(d.u.hello.weight, 65535);
	assert_int_equal(d.u.hello.vcpus, 4);
	assert_int_equal(d.u.hello.mem_bytes, 1ull << 40);
	assert_int_equal(d.u.hello.ntids, 2);
	assert_int_equal(d.u.hello.tids[1], 4244);
	assert_string_equal(d.u.hello.resume_token, "00112233445566778899aabbccddeeff");
	assert_string_equal(d.u.hello.cgroup, "/sys/fs/cgroup/cpu/zpsi/vm-7");
	assert_int_equal(d.u.hello.features, ZPSI_CTL_F_C3 | ZPSI_CTL_F_BALLOON);

	/* an encoder refuses what a decoder would */
	strcpy(m.u.hello.name, "../etc");
	assert_int_equal(zpsi_ctl_encode(&m, &buf, &len), -EINVAL);
}

static void test_other_roundtrips(void **state)
{
	struct zpsi_ctl_msg m = { 0 }, d;
	char *buf;
	size_t len;

	(void)state;
	m.type = ZPSI_CTL_WELCOME;
	m.re = 1;
	m.u.welcome.guest_id = 3;
	strcpy(m.u.welcome.resume_token, "ffffffffffffffffffffffffffffffff");
	m.u.welcome.restored = true;
	m.u.welcome.power = 6;
	m.u.welcome.mem_target_bytes = 8192;
	m.u.welcome.aggregate_psi = 0.3333;
	assert_int_equal(zpsi_ctl_encode(&m, &buf, &len), 0);
	assert_int_equal(zpsi_ctl_decode(buf, len, &d), 0);
	free(buf);
	assert_int_equal(d.re, 1);
	assert_true(d.u.welcome.restored);
	assert_int_equal(d.u.welcome.power, 6);
	assert_int_equal(d.u.welcome.mem_target_bytes, 8192);
	assert_true(d.u.welcome.aggregate_psi == 0.3333);

	memset(&m, 0, sizeof(m));
	m.type = ZPSI_CTL_ACK;
	m.re = 9;
	m.u.ack.ok = false;
	m.u.ack.error = ENOSPC;
	strcpy(m.u.ack.message, "disk full");
	assert_int_equal(zpsi_ctl_encode(&m, &buf, &len), 0);
	assert_int_equal(zpsi_ctl_decode(buf, len, &d), 0);
	free(buf);
	assert_false(d.u.ack.ok);
	assert_int_equal(d.u.ack.error, ENOSPC);
	assert_string_equal(d.u.ack.message, "disk full");

	memset(&m, 0, sizeof(m));
	m.type = ZPSI_CTL_STATE;
	m.u.state.has_power_request = true;
	m.u.state.power_request = 3;
	m.u.state.has_rss = true;
	m.u.state.rss_bytes = 123456789;
	m.u.state.counters_reset = true;
	assert_int_equal(zpsi_ctl_encode(&m, &buf, &len), 0);
	assert_int_equal(zpsi_ctl_decode(buf, len, &d), 0);
	free(buf);
	assert_true(d.u.state.counters_reset);
	assert_true(d.u.state.has_power_request);
	assert_false(d.u.state.has_power);
	assert_false(d.u.state.has_weight);
	assert_int_equal(d.u.state.power_request, 3);
	assert_int_equal(zpsi_ctl_decode("{\"type\":\"state\",\"counters_reset\":1}", 35, &d), -EINVAL);
	assert_int_equal(d.u.state.rss_bytes, 123456789);

	memset(&m, 0, sizeof(m));
	m.type = ZPSI_CTL_REPLY;
	m.re = 4;
	m.more = true;
	m.body = json_pack("{s:f,s:[{s:s}],s:s}", "aggregate_psi", 0.5, "guests", "name", "a",
			   "type", "not-the-envelope");
	assert_int_equal(zpsi_ctl_encode(&m, &buf, &len), 0);
	json_decref(m.body);
	assert_int_equal(zpsi_ctl_decode(buf, len, &d), 0);
	free(buf);
	assert_int_equal(d.type, ZPSI_CTL_REPLY);	/* the body cannot override the type */
	assert_true(d.more);
	assert_non_null(d.body);
	assert_null(json_object_get(d.body, "type"));
	assert_true(json_number_value(json_object_get(d.body, "aggregate_psi")) == 0.5);
	zpsi_ctl_msg_done(&d);
	assert_null(d.body);
}

/* Every one of these must be refused with the stated error, never crash. */
static void test_hostile_packets(void **state)
{
	static const struct {
		const char *json;
		int err;
	} cases[] = {
		{ "", -EBADMSG },
		{ "{", -EBADMSG },
		{ "[1,2]", -EBADMSG },
		{ "\"hello\"", -EBADMSG },
		{ "{\"type\":\"hello\",\"type\":\"bye\"}", -EBADMSG },	/* duplicate key */
		{ "{\"type\":\"nope\"}", -EOPNOTSUPP },
		{ "{\"type\":7}", -EINVAL },
		{ "{}", -EINVAL },
		{ "{\"type\":\"bye\",\"seq\":-1}", -EINVAL },
		{ "{\"type\":\"bye\",\"seq\":4294967296}", -EINVAL },
		{ "{\"type\":\"bye\",\"seq\":1.5}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":1,\"vcpus\":1}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":0,\"weight\":1,\"vcpus\":1,\"memory_bytes\":0}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":0,\"vcpus\":1,\"memory_bytes\":0}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":65536,\"vcpus\":1,\"memory_bytes\":0}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":1,\"vcpus\":1025,\"memory_bytes\":0}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":1,\"vcpus\":1,\"memory_bytes\":\"1\"}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"../a\",\"pid\":1,\"weight\":1,\"vcpus\":1,\"memory_bytes\":0}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\\u0000b\",\"pid\":1,\"weight\":1,\"vcpus\":1,\"memory_bytes\":0}", -EBADMSG },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":1,\"vcpus\":1,\"memory_bytes\":0,\"cgroup\":\"/a/../b\"}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":1,\"vcpus\":1,\"memory_bytes\":0,\"cgroup\":\"rel\"}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":1,\"vcpus\":1,\"memory_bytes\":0,\"threads\":[0]}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":1,\"vcpus\":1,\"memory_bytes\":0,\"threads\":{}}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":1,\"vcpus\":1,\"memory_bytes\":0,\"resume_token\":\"xyz\"}", -EINVAL },
		{ "{\"type\":\"hello\",\"proto\":1,\"name\":\"a\",\"pid\":1,\"weight\":1,\"vcpus\":1,\"memory_bytes\":0,\"features\":[1]}", -EINVAL },
		{ "{\"type\":\"power\",\"state\":\"C2\"}", -EINVAL },
		{ "{\"type\":\"power\"}", -EINVAL },
		{ "{\"type\":\"ack\",\"ok\":false}", -EINVAL },
		{ "{\"type\":\"ack\",\"ok\":1}", -EINVAL },
		{ "{\"type\":\"set-weight\",\"weight\":0}", -EINVAL },
		{ "{\"type\":\"memory-target\",\"bytes\":-4096}", -EINVAL },
		{ "{\"type\":\"guest\"}", -EINVAL },
		{ "{\"type\":\"set\",\"name\":\"a\",\"key\":\"weight\"}", -EINVAL },
		{ "{\"type\":\"welcome\",\"guest_id\":1,\"resume_token\":\"00112233445566778899aabbccddeeff\",\"aggregate_psi\":1.5}", -EINVAL },
		{ "{\"type\":\"state\",\"power\":\"C9\"}", -EINVAL },
	};
	struct zpsi_ctl_msg m;

	(void)state;
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(cases); i++) {
		int r = decode_str(cases[i].json, &m);

		if (r != cases[i].err)
			fail_msg("case %zu (%s): got %d, want %d", i, cases[i].json, r, cases[i].err);
	}
	/* a long string in a fixed field: refused, not truncated */
	char big[600];
	snprintf(big, sizeof(big), "{\"type\":\"bye\",\"reason\":\"%0300d\"}", 0);
	assert_int_equal(decode_str(big, &m), -EINVAL);
	/* longer than a packet */
	char *huge = malloc(ZPSI_CTL_MSG_MAX + 2);
	memset(huge, ' ', ZPSI_CTL_MSG_MAX + 1);
	huge[0] = '{';
	huge[ZPSI_CTL_MSG_MAX] = '}';
	assert_int_equal(zpsi_ctl_decode(huge, ZPSI_CTL_MSG_MAX + 1, &m), -EBADMSG);
	free(huge);
	/* unknown fields are ignored */
	assert_int_equal(decode_str("{\"type\":\"bye\",\"x\":[1,{}],\"reason\":\"r\"}", &m), 0);
	assert_string_equal(m.u.bye.reason, "r");
}

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_transport_fds(void **state)
{
	int sv[2], fds[ZPSI_CTL_FDS_MAX], p[2];
	struct zpsi_ctl_msg m = { .type = ZPSI_CTL_BYE }, d;
	size_t n = 0;

	(void)state;
	make_pair(sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	strcpy(m.u.bye.reason, "with fd");
	assert_int_equal(zpsi_ctl_send(sv[0], &m, &p[1], 1), 0);
	assert_int_equal(zpsi_ctl_recv(sv[1], 1000, &d, fds, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d.u.bye.reason, "with fd");
	/* the received fd is the pipe's write end, and CLOEXEC */
	assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(fds[0], "x", 1), 1);
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(fds[0]);

	/* too many fds: the sender's helper refuses; a raw sender's packet is
	 * refused by the receiver and none of its fds leak */
	int many[8] = { p[0], p[0], p[0], p[0], p[0], p[0], p[0], p[0] };
	assert_int_equal(zpsi_ctl_send(sv[0], &m, many, 5), -EINVAL);
	{
		char cbuf[CMSG_SPACE(sizeof(int) * 8)];
		struct iovec iov = { .iov_base = "{\"type\":\"bye\"}", .iov_len = 14 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * 8);
		memcpy(CMSG_DATA(cm), many, sizeof(many));
		assert_int_equal(sendmsg(sv[0], &mh, 0), 14);
	}
	int before = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(before);
	assert_int_equal(zpsi_ctl_recv(sv[1], 1000, &d, fds, &n), -EMSGSIZE);
	int after = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(after, before);	/* nothing leaked: the lowest fd is free again */
	close(after);

	/* garbage with an fd: the fd is closed with the refusal */
	assert_int_equal(zpsi_ctl_send_raw(sv[0], "garbage", 7, &p[0], 1), 0);
	assert_int_equal(zpsi_ctl_recv(sv[1], 1000, &d, fds, &n), -EBADMSG);
	after = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(after, before);
	close(after);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_transport_sizes(void **state)
{
	int sv[2], fds[ZPSI_CTL_FDS_MAX];
	struct zpsi_ctl_msg d;
	size_t n;
	char *big;
	int bufsz = 1 << 20;

	(void)state;
	make_pair(sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz)), 0);
	/* nothing there: a bounded wait times out, a zero wait says EAGAIN */
	assert_int_equal(zpsi_ctl_recv(sv[1], 10, &d, fds, &n), -ETIMEDOUT);
	assert_int_equal(zpsi_ctl_recv(sv[1], 0, &d, fds, &n), -EAGAIN);

	/* an oversized packet (sent raw, past the helper's own check) is
	 * discarded unread and the next one is still read */
	big = malloc(ZPSI_CTL_MSG_MAX * 2);
	memset(big, 'x', ZPSI_CTL_MSG_MAX * 2);
	assert_int_equal(send(sv[0], big, ZPSI_CTL_MSG_MAX + 1, 0), ZPSI_CTL_MSG_MAX + 1);
	assert_int_equal(zpsi_ctl_send_raw(sv[0], big, ZPSI_CTL_MSG_MAX + 1, NULL, 0), -EINVAL);
	assert_int_equal(zpsi_ctl_send_raw(sv[0], "{\"type\":\"bye\"}", 14, NULL, 0), 0);
	assert_int_equal(zpsi_ctl_recv(sv[1], 1000, &d, fds, &n), -EMSGSIZE);
	assert_int_equal(zpsi_ctl_recv(sv[1], 1000, &d, fds, &n), 0);
	assert_int_equal(d.type, ZPSI_CTL_BYE);
	/* exactly the maximum is accepted by the transport (and is then bad JSON) */
	assert_int_equal(zpsi_ctl_send_raw(sv[0], big, ZPSI_CTL_MSG_MAX, NULL, 0), 0);
	assert_int_equal(zpsi_ctl_recv(sv[1], 1000, &d, fds, &n), -EBADMSG);
	free(big);
	/* truncated JSON */
	assert_int_equal(zpsi_ctl_send_raw(sv[0], "{\"type\":\"by", 11, NULL, 0), 0);
	assert_int_equal(zpsi_ctl_recv(sv[1], 1000, &d, fds, &n), -EBADMSG);
	/* an empty packet cannot be told from EOF: it ends the conversation */
	assert_int_equal(send(sv[0], "", 0, 0), 0);
	assert_int_equal(zpsi_ctl_recv(sv[1], 1000, &d, fds, &n), -ECONNRESET);
	/* EOF */
	close(sv[0]);
	assert_int_equal(zpsi_ctl_recv(sv[1], 1000, &d, fds, &n), -ECONNRESET);
	close(sv[1]);
}

/* zpsi_ctl_request against a hand-played server: chunks are joined,
 * unrelated packets skipped, an error is returned as -errno. */
static void test_request_chunks(void **state)
{
	int sv[2], fds[ZPSI_CTL_FDS_MAX];
	struct zpsi_ctl_msg q = { .type = ZPSI_CTL_STATUS }, in, out = { 0 };
	json_t *reply = NULL;
	size_t n;
	pid_t pid;

	(void)state;
	make_pair(sv);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		for (int round = 0; round < 2; round++) {
			if (zpsi_ctl_recv(sv[1], 5000, &in, fds, &n) < 0)
				_exit(1);
			if (round == 1) {
				out = (struct zpsi_ctl_msg){ .type = ZPSI_CTL_ERROR, .re = in.seq };
				out.u.error.error = ENOENT;
				strcpy(out.u.error.message, "no such guest");
				zpsi_ctl_send(sv[1], &out, NULL, 0);
				continue;
			}
			out = (struct zpsi_ctl_msg){ .type = ZPSI_CTL_REPLY, .re = in.seq + 100 };
			out.body = json_pack("{s:i}", "stale", 1);
			zpsi_ctl_send(sv[1], &out, NULL, 0);	/* not ours: skipped */
			json_decref(out.body);
			for (int i = 0; i < 3; i++) {
				out = (struct zpsi_ctl_msg){ .type = ZPSI_CTL_REPLY, .re = in.seq, .more = i < 2 };
				out.body = i == 0 ? json_pack("{s:f,s:[i,i]}", "aggregate_psi", 0.25, "guests", 1, 2)
						  : json_pack("{s:[i]}", "guests", 3 + i);
				zpsi_ctl_send(sv[1], &out, NULL, 0);
				json_decref(out.body);
			}
		}
		_exit(0);
	}
	close(sv[1]);
	assert_int_equal(zpsi_ctl_request(sv[0], &q, 5000, &reply), 0);
	assert_true(json_number_value(json_object_get(reply, "aggregate_psi")) == 0.25);
	assert_int_equal(json_array_size(json_object_get(reply, "guests")), 4);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(reply, "guests"), 3)), 5);
	json_decref(reply);
	q.type = ZPSI_CTL_GUEST;
	strcpy(q.u.query.name, "x");
	assert_int_equal(zpsi_ctl_request(sv[0], &q, 5000, &reply), -ENOENT);
	assert_string_equal(json_string_value(json_object_get(reply, "error")), "ENOENT");
	json_decref(reply);
	close(sv[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_listen(void **state)
{
	char dir[] = "/tmp/zpsi-ctl-XXXXXX", path[64];
	struct stat st;
	int l, l2, c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	assert_int_equal(zpsi_ctl_listen(path, 0600, 4, &l), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(S_ISSOCK(st.st_mode));
	/* a live listener is never replaced */
	assert_int_equal(zpsi_ctl_listen(path, 0600, 4, &l2), -EADDRINUSE);
	assert_int_equal(zpsi_ctl_connect(path, &c), 0);
	close(c);
	close(l);
	/* a stale one is */
	assert_int_equal(zpsi_ctl_listen(path, 0660, 4, &l2), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	close(l2);
	unlink(path);
	rmdir(dir);
	assert_int_equal(zpsi_ctl_connect("/nonexistent/zpsid.sock", &c), -ENOENT);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(zpsi_ctl_connect(longp, &c), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_other_roundtrips),
		cmocka_unit_test(test_hostile_packets),
		cmocka_unit_test(test_transport_fds),
		cmocka_unit_test(test_transport_sizes),
		cmocka_unit_test(test_request_chunks),
		cmocka_unit_test(test_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
