/* ktmon: the symbol-name hash.
 *
 * A 64-bit multiply-xorshift over the name's 8-byte little-endian chunks,
 * the last chunk zero-padded and mixed with the length, folded to 32 bits.
 * Two implementations give the same value for the same name:
 *   km_ksym_hash         byte by byte over a counted string (lookups: it
 *                        never reads past the caller's string);
 *   km_ksym_hash_padded  a word at a time up to the NUL (table build: the
 *                        names buffer carries KM_KSYM_NAME_PAD zero bytes so
 *                        the last word read stays inside it).
 * Its value only spreads names over the sorted table; correctness never
 * depends on it (equal hashes are compared by name).  Unsigned arithmetic
 * wraps by design here, which is why this file is outside the WP harness
 * (docs/proof-status.md). */
#include "ksym_int.h"

#define KM_KSYM_HASH_SEED64 0x243F6A8885A308D3u
#define KM_KSYM_HASH_MUL 0x9E3779B97F4A7C15u
#define KM_KSYM_ONES 0x0101010101010101u
#define KM_KSYM_HIGHS 0x8080808080808080u

/* The first n (<= 8) bytes at s as a little-endian word, zero-padded. */
static uint64_t km_ksym_word(const char *s, uint32_t n)
{
    uint64_t w = 0u;
    for (uint32_t j = 0u; j < n; j++) {
        uint32_t shift = 8u * j;
        uint64_t byte = (uint64_t)(uint8_t)s[j];
        w |= byte << shift;
    }
    return w;
}

/* The 8 bytes at s as a little-endian word (one load once compiled). */
static uint64_t km_ksym_word8(const char *s)
{
    return (uint64_t)(uint8_t)s[0] | ((uint64_t)(uint8_t)s[1] << 8u) |
           ((uint64_t)(uint8_t)s[2] << 16u) | ((uint64_t)(uint8_t)s[3] << 24u) |
           ((uint64_t)(uint8_t)s[4] << 32u) | ((uint64_t)(uint8_t)s[5] << 40u) |
           ((uint64_t)(uint8_t)s[6] << 48u) | ((uint64_t)(uint8_t)s[7] << 56u);
}

static uint64_t km_ksym_mix(uint64_t h, uint64_t w)
{
    uint64_t x = (h ^ w) * KM_KSYM_HASH_MUL;
    return x ^ (x >> 29u);
}

static uint32_t km_ksym_finish(uint64_t h, uint64_t tail, size_t n)
{
    uint64_t x = km_ksym_mix(h, tail ^ ((uint64_t)n << 56u));
    uint64_t folded = (x >> 32u) ^ (x & 0xFFFFFFFFu);
    return (uint32_t)folded;
}

uint32_t km_ksym_hash(const char *s, size_t n)
{
    uint64_t h = KM_KSYM_HASH_SEED64;
    size_t k = 0u;
    while ((n - k) >= 8u) {
        h = km_ksym_mix(h, km_ksym_word8(&s[k]));
        k += 8u;
    }
    uint64_t tail = km_ksym_word(&s[k], (uint32_t)(n - k));
    return km_ksym_finish(h, tail, n);
}

uint32_t km_ksym_hash_padded(const char *s, size_t *len)
{
    uint64_t h = KM_KSYM_HASH_SEED64;
    size_t k = 0u;
    uint64_t tail = 0u;
    bool done = false;
    while (!done) {
        uint64_t w = km_ksym_word8(&s[k]);
        if ((((w - KM_KSYM_ONES) & ~w) & KM_KSYM_HIGHS) == 0u) {
            h = km_ksym_mix(h, w); /* no NUL in these 8 bytes */
            k += 8u;
        } else {
            uint32_t b = 0u;
            while ((b < 8u) && ((uint8_t)s[k + b] != 0u)) {
                b++;
            }
            if (b > 0u) {
                uint32_t bits = 8u * b; /* < 64 */
                tail = w & ((UINT64_C(1) << bits) - 1u);
            }
            k += (size_t)b;
            done = true;
        }
    }
    *len = k;
    return km_ksym_finish(h, tail, k);
}
