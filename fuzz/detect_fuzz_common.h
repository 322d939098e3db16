/* SPDX-License-Identifier: MIT */
/*
 * detect_fuzz_common.h - checks shared by the detection fuzzers.
 *
 * json_check() validates a document the detector *wrote* (strict RFC 8259
 * grammar, recursion bounded): the writer's promise is valid JSON in pure
 * printable ASCII whatever bytes it was given.  It checks our output; it
 * is not used to read anybody's input.
 */
#ifndef ZPSI_DETECT_FUZZ_COMMON_H
#define ZPSI_DETECT_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                  \
	do {                         \
		if (!(cond))         \
			abort();     \
	} while (0)

struct jc {
	const char *p, *end;
	unsigned depth;
};

static bool jc_value(struct jc *c);

static void jc_ws(struct jc *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r'))
		c->p++;
}

static bool jc_lit(struct jc *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool jc_string(struct jc *c)
{
	if (c->p >= c->end || *c->p != '"')
		return false;
	c->p++;
	while (c->p < c->end) {
		unsigned char ch = (unsigned char)*c->p++;

		if (ch == '"')
			return true;
		if (ch < 0x20 || ch >= 0x7F)	/* we promise printable ASCII */
			return false;
		if (ch == '\\') {
			if (c->p >= c->end)
				return false;
			ch = (unsigned char)*c->p++;
			if (ch == 'u') {
				for (int i = 0; i < 4; i++, c->p++)
					if (c->p >= c->end || !strchr("0123456789abcdefABCDEF", *c->p) || !*c->p)
						return false;
			} else if (!strchr("\"\\/bfnrt", ch) || !ch) {
				return false;
			}
		}
	}
	return false;
}

static bool jc_number(struct jc *c)
{
	const char *start = c->p;

	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p >= c->end || *c->p < '0' || *c->p > '9')
		return false;
	if (*c->p == '0') {
		c->p++;
	} else {
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	return c->p > start;	/* we never write fractions or exponents */
}

static bool jc_members(struct jc *c, char close, bool object)
{
	jc_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return true;
	}
	for (;;) {
		jc_ws(c);
		if (object) {
			if (!jc_string(c))
				return false;
			jc_ws(c);
			if (!jc_lit(c, ":"))
				return false;
		}
		if (!jc_value(c))
			return false;
		jc_ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == close) {
			c->p++;
			return true;
		}
		return false;
	}
}

static bool jc_value(struct jc *c)
{
	bool ok;

	jc_ws(c);
	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case '{':
	case '[': {
		bool object = *c->p == '{';

		if (++c->depth > 64)
			return false;
		c->p++;
		ok = jc_members(c, object ? '}' : ']', object);
		c->depth--;
		return ok;
	}
	case '"':
		return jc_string(c);
	case 't':
		return jc_lit(c, "true");
	case 'f':
		return jc_lit(c, "false");
	case 'n':
		return jc_lit(c, "null");
	default:
		return jc_number(c);
	}
}

/* A complete, valid document of exactly `len` bytes, NUL-terminated. */
static inline void json_check(const char *s, size_t len)
{
	struct jc c = { s, s + len, 0 };

	CHECK(strlen(s) == len);
	CHECK(jc_value(&c));
	jc_ws(&c);
	CHECK(c.p == c.end);
}

#endif /* ZPSI_DETECT_FUZZ_COMMON_H */
