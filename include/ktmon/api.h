/* ktmon: public API export control.
 *
 * The library is built with -fvisibility=hidden; only declarations marked
 * KM_API are exported from libktmon.so. */
#ifndef KTMON_API_H
#define KTMON_API_H

#if defined(__FRAMAC__) || defined(__CPPCHECK__)
#define KM_API
#elif defined(__GNUC__)
#define KM_API __attribute__((visibility("default")))
#else
#define KM_API
#endif

/* Keep a cold path out of line, so that its stack frame and saved registers
 * are not paid on the hot path that calls it. */
#if defined(__GNUC__) && !defined(__FRAMAC__) && !defined(__CPPCHECK__)
#define KM_NOINLINE __attribute__((noinline))
#else
#define KM_NOINLINE
#endif

#define KTMON_VERSION_MAJOR 0
#define KTMON_VERSION_MINOR 1
#define KTMON_VERSION_PATCH 0
#define KTMON_VERSION_STRING "0.1.0"

#endif /* KTMON_API_H */
