/* Host harness for the MCU requantization library: reads int64 records from stdin, applies one
 * function of edgeq_requant.c to each and writes one int64 result per record to stdout.
 *
 *   requant_harness requant   records (acc, M, c, kind, rounding, overflow, relu, bits,
 *                                      is_signed, exponent_bits, mantissa_bits, max_int)
 *   requant_harness srdhm     records (a, b)
 *   requant_harness rdbpot    records (x, exponent)
 *   requant_harness decode    records (code, exponent_bits, mantissa_bits, is_signed)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "edgeq_requant.h"

static int64_t apply(const char *mode, const int64_t *r)
{
    if (!strcmp(mode, "requant")) {
        const int32_t multiplier = (int32_t)r[1];
        const int8_t shift = (int8_t)r[2];
        edgeq_requant_t rq;
        rq.multiplier = &multiplier;
        rq.shift = &shift;
        rq.kind = (uint8_t)r[3];
        rq.rounding = (uint8_t)r[4];
        rq.overflow = (uint8_t)r[5];
        rq.relu = (uint8_t)r[6];
        rq.bits = (uint8_t)r[7];
        rq.is_signed = (uint8_t)r[8];
        rq.exponent_bits = (uint8_t)r[9];
        rq.mantissa_bits = (uint8_t)r[10];
        rq.max_int = (int32_t)r[11];
        return edgeq_requantize(&rq, r[0], 0);
    }
    if (!strcmp(mode, "srdhm"))
        return edgeq_saturating_rounding_doubling_high_mul((int32_t)r[0], (int32_t)r[1]);
    if (!strcmp(mode, "rdbpot"))
        return edgeq_rounding_divide_by_pot((int32_t)r[0], (int)r[1]);
    return edgeq_minifloat_decode((uint32_t)r[0], (int)r[1], (int)r[2], (int)r[3]);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const size_t width = !strcmp(mode, "requant") ? 12
                         : (!strcmp(mode, "srdhm") || !strcmp(mode, "rdbpot")) ? 2
                         : !strcmp(mode, "decode") ? 4 : 0;
    int64_t record[12], result;

    if (!width) {
        fprintf(stderr, "usage: requant_harness requant|srdhm|rdbpot|decode < records\n");
        return 2;
    }
    while (fread(record, sizeof(int64_t), width, stdin) == width) {
        result = apply(mode, record);
        fwrite(&result, sizeof result, 1, stdout);
    }
    return 0;
}
