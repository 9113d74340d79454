/* ktmon: guest architectures. */
#ifndef KTMON_ARCH_H
#define KTMON_ARCH_H

typedef enum km_arch {
    KM_ARCH_X86_64 = 0,
    KM_ARCH_AARCH64 = 1
} km_arch;

#define KM_ARCH_COUNT 2

#endif /* KTMON_ARCH_H */
