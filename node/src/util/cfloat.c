/* Float parsing and formatting with the C library, so that replies match
 * Redis byte for byte. Redis parses scores with strtod, INCRBYFLOAT operands
 * with strtold, prints doubles with "%.17g" and INCRBYFLOAT results with
 * "%.17Lf" stripped of trailing zeroes. Rust has no long double, so this
 * file is the one place where C does the arithmetic. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#define RH_MAX_LD_CHARS 5120

/* Returns 1 and stores the value when `s[0..len]` is a valid double the way
 * Redis's string2d accepts it; 0 otherwise. */
int rh_parse_double(const char *s, size_t len, double *out) {
    char buf[RH_MAX_LD_CHARS];
    char *end;
    double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;
    errno = 0;
    v = strtod(buf, &end);
    if ((size_t)(end - buf) != len) return 0;
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) return 0;
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[RH_MAX_LD_CHARS];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    /* Every byte must be consumed: an embedded NUL is not the end. */
    if (isspace((unsigned char)buf[0]) || end[0] != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || v == 0)) ||
        errno == EINVAL || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Human-friendly long double formatting (Redis's ld2string LD_STR_HUMAN). */
static int format_ld_human(long double v, char *out, size_t cap) {
    int l;
    if (isinf(v)) {
        if (cap < 5) return -1;
        if (v > 0) { memcpy(out, "inf", 3); return 3; }
        memcpy(out, "-inf", 4);
        return 4;
    }
    l = snprintf(out, cap, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > cap) return -1;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; l = 1; }
    return l;
}

/* Validates a long double operand (INCRBYFLOAT / HINCRBYFLOAT argument). */
int rh_is_long_double(const char *s, size_t len) {
    long double v;
    return parse_ld(s, len, &v);
}

/* current + incr in long double precision, written in human form.
 * Returns the length written, -1 when an operand is not a valid float,
 * -2 when the result is NaN or infinite. */
int rh_add_long_double(const char *cur, size_t cur_len, const char *incr, size_t incr_len,
                       char *out, size_t cap) {
    long double a = 0, b, r;
    if (cur != NULL && !parse_ld(cur, cur_len, &a)) return -1;
    if (!parse_ld(incr, incr_len, &b)) return -1;
    r = a + b;
    if (isnan(r) || isinf(r)) return -2;
    return format_ld_human(r, out, cap);
}

/* printf("%.17g") of a double, the format Redis 7.0 uses for double replies. */
int rh_format_g17(double v, char *out, size_t cap) {
    return snprintf(out, cap, "%.17g", v);
}

/* A bare strtod over the C string in s[0..len] (it ends at the first NUL, as
 * Redis sees an argument). Returns 1 with the value when strtod consumed the
 * whole C string and the value is not NaN, else 0. Redis parses score range
 * bounds this way (zslParseRange): no errno check and no rejection of
 * leading spaces, so "" is 0, " 1" is 1 and "1e400" is inf. */
int rh_strtod_loose(const char *s, size_t len, double *out) {
    const void *nul = memchr(s, '\0', len);
    size_t clen = nul ? (size_t)((const char *)nul - s) : len;
    char *buf = malloc(clen + 1);
    char *end;
    double v;
    int ok;
    if (buf == NULL) return 0;
    memcpy(buf, s, clen);
    buf[clen] = '\0';
    v = strtod(buf, &end);
    ok = end[0] == '\0' && !isnan(v);
    free(buf);
    if (ok) *out = v;
    return ok;
}
