/* The bench library answers failures with a reason in a caller's buffer (why, why_size);
 * this writes it, printf-style, and tolerates a NULL buffer. */
#ifndef FP8BLOCK_BENCH_WHY_H
#define FP8BLOCK_BENCH_WHY_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline void why_printf(char *why, size_t why_size, const char *fmt, ...)
{
    if (!why || why_size == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

#endif
