/* Example application and test harness.
 *
 * Runs the model on the compiled-in test vectors (inputs and the golden reference's outputs),
 * prints every output ("y SAMPLE: v0 v1 ..."), counts instructions or cycles when the target
 * has a counter, and ends with "edgeq: PASS n/n" or "edgeq: FAIL". Inferences run back to back
 * in chunks so that the counter measures edgeq_model_run and its call only.
 *
 * Counters:
 *   EDGEQ_TIMER_SYSTICK  QEMU mps2-an386 with -icount shift=0: every instruction advances the
 *                        virtual clock by 1 ns and SysTick counts that clock, so ticks convert
 *                        to instructions. The conversion is measured by a calibration loop of
 *                        a known instruction count, not assumed.
 *   EDGEQ_TIMER_DWT      real Cortex-M3/M4/M7 silicon: the DWT cycle counter (clock cycles).
 *   neither              host build: no counter.
 */
#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "test_vectors.h"

#define CHUNK 16

#if defined(EDGEQ_TIMER_SYSTICK)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

static void counter_start(void)
{
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7; /* processor clock, interrupt on wrap, enabled */
    while (SYST_CVR == 0) { /* the first tick loads the reload value */
    }
    systick_wraps = 0;
}

static uint64_t counter_read(void)
{
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return ((uint64_t)wraps << 24) + (0xFFFFFFu - value);
}

/* 2 * n + a few instructions: subs/bne per iteration. */
static void __attribute__((noinline)) known_loop(uint32_t n)
{
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

#ifndef CALIBRATION_ITERATIONS
#define CALIBRATION_ITERATIONS 1000000u
#endif
static void calibrate(void)
{
    uint64_t t0 = counter_read(), t1;
    known_loop(CALIBRATION_ITERATIONS);
    t1 = counter_read();
    printf("edgeq: calibration %lu instructions in %lu ticks\n",
           (unsigned long)(2 * CALIBRATION_ITERATIONS), (unsigned long)(t1 - t0));
}
#define COUNTER_NAME "ticks"
#elif defined(EDGEQ_TIMER_DWT)
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
static uint64_t cycles_high;
static uint32_t cycles_last;

static void counter_start(void)
{
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;    /* CYCCNTENA */
}

static uint64_t counter_read(void) /* called at least once per 2^32 cycles */
{
    const uint32_t now = DWT_CYCCNT;
    if (now < cycles_last)
        cycles_high += (uint64_t)1 << 32;
    cycles_last = now;
    return cycles_high + now;
}
static void calibrate(void) {}
#define COUNTER_NAME "cycles"
#else
static void counter_start(void) {}
static uint64_t counter_read(void) { return 0; }
static void calibrate(void) {}
#define COUNTER_NAME ""
#endif

static edgeq_output_t outputs[CHUNK][EDGEQ_OUTPUT_SIZE];

int main(void)
{
    uint64_t counted = 0;
    long mismatches = 0;
    int start, s, i;

    counter_start();
    calibrate();
    for (start = 0; start < edgeq_test_samples; start += CHUNK) {
        const int n = edgeq_test_samples - start < CHUNK ? edgeq_test_samples - start : CHUNK;
        const uint64_t t0 = counter_read();
        for (s = 0; s < n; s++)
            edgeq_model_run(edgeq_test_inputs[start + s], outputs[s]);
        counted += counter_read() - t0;
        for (s = 0; s < n; s++) {
            printf("y %d:", start + s);
            for (i = 0; i < EDGEQ_OUTPUT_SIZE; i++) {
                printf(" %ld", (long)outputs[s][i]);
                mismatches += outputs[s][i] != edgeq_test_expected[start + s][i];
            }
            printf("\n");
        }
    }
    if (COUNTER_NAME[0])
        printf("edgeq: %s %llu for %d inferences\n", COUNTER_NAME,
               (unsigned long long)counted, edgeq_test_samples);
    if (mismatches)
        printf("edgeq: FAIL %ld output values differ from the golden\n", mismatches);
    else
        printf("edgeq: PASS %d/%d samples\n", edgeq_test_samples, edgeq_test_samples);
    return mismatches != 0;
}
