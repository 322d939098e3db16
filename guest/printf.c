/* SPDX-License-Identifier: MIT */
/*
 * guest/printf.c - a small vsnprintf for the guest runtime: %d %i %u %x %X
 * %p %s %c %%, the h/l/ll/z/j length modifiers, width, '-', '0' and '#'.
 * Always NUL-terminates (when size > 0) and returns the length it would
 * have written, as C99 does.
 */
#include "rt.h"

struct zg_out {
	char *buf;
	size_t size, len;
};

static void zg_out_char(struct zg_out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void zg_out_padded(struct zg_out *o, const char *s, size_t n, unsigned width, int left,
			  char pad)
{
	size_t fill = width > n ? width - n : 0;

	if (!left)
		while (fill--)
			zg_out_char(o, pad);
	for (size_t i = 0; i < n; i++)
		zg_out_char(o, s[i]);
	if (left)
		while (fill--)
			zg_out_char(o, ' ');
}

static size_t zg_fmt_u64(char *tmp, uint64_t v, unsigned base, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char rev[24];
	size_t n = 0;

	do {
		rev[n++] = digits[v % base];
		v /= base;
	} while (v);
	for (size_t i = 0; i < n; i++)
		tmp[i] = rev[n - 1 - i];
	return n;
}

int zg_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct zg_out o = { buf, size, 0 };

	for (const char *p = fmt; *p; p++) {
		char tmp[32], pad = ' ';
		unsigned width = 0, lng = 0;
		int left = 0, alt = 0, neg = 0;
		uint64_t v;
		size_t n;

		if (*p != '%') {
			zg_out_char(&o, *p);
			continue;
		}
		for (p++;; p++) {
			if (*p == '-')
				left = 1;
			else if (*p == '0')
				pad = '0';
			else if (*p == '#')
				alt = 1;
			else
				break;
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (unsigned)(*p++ - '0');
		for (;; p++) {
			if (*p == 'l' || *p == 'z' || *p == 'j')
				lng++;
			else if (*p != 'h')
				break;
		}
		switch (*p) {
		case 'd':
		case 'i': {
			int64_t s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);

			neg = s < 0;
			v = neg ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
			tmp[0] = '-';
			n = neg + zg_fmt_u64(tmp + neg, v, 10, 0);
			zg_out_padded(&o, tmp, n, width, left, neg ? ' ' : pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'p':
			if (*p == 'p') {
				v = (uint64_t)(uintptr_t)va_arg(ap, void *);
				alt = 1;
			} else {
				v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			}
			n = 0;
			if (alt && *p != 'u') {
				tmp[n++] = '0';
				tmp[n++] = 'x';
			}
			n += zg_fmt_u64(tmp + n, v, *p == 'u' ? 10 : 16, *p == 'X');
			zg_out_padded(&o, tmp, n, width, left, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (!s)
				s = "(null)";
			zg_out_padded(&o, s, zg_strlen(s), width, left, ' ');
			break;
		}
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			zg_out_padded(&o, tmp, 1, width, left, ' ');
			break;
		case '%':
			zg_out_char(&o, '%');
			break;
		default:	/* unknown conversion: print it as it was */
			zg_out_char(&o, '%');
			if (!*p)
				goto done;
			zg_out_char(&o, *p);
			break;
		}
	}
done:
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int zg_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = zg_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
