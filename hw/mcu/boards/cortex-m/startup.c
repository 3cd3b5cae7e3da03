/* Cortex-M3/M4/M7 startup: vector table, .data copy, .bss clear, FPU on, then main().
 * The linker script provides _estack, _sidata, _sdata, _edata, _sbss and _ebss.
 * With EDGEQ_SEMIHOSTING the C library talks to the host through semihosting (QEMU, or a
 * debugger such as openocd with `arm semihosting enable`); a fault then ends the run. */
#include <stdint.h>

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
int main(void);

#ifdef EDGEQ_SEMIHOSTING
#include <stdlib.h>
extern void initialise_monitor_handles(void);

/* SYS_EXIT with ADP_Stopped_RunTimeErrorUnknown: the emulator or debugger stops with an error. */
static void semihosting_abort(void)
{
    register uint32_t op __asm__("r0") = 0x18;
    register uint32_t reason __asm__("r1") = 0x20024;
    __asm__ volatile("bkpt 0xab" : : "r"(op), "r"(reason) : "memory");
}
#endif

void Default_Handler(void)
{
#ifdef EDGEQ_SEMIHOSTING
    semihosting_abort();
#endif
    for (;;) {
    }
}

void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Reset_Handler(void);

/* The C library's init/fini hooks; nothing to run in C. */
void _init(void) {}
void _fini(void) {}

void Reset_Handler(void)
{
    const uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    int rc;

    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;)
        *dst++ = 0;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CPACR: full access to CP10/CP11 */
    __asm__ volatile("dsb\n\tisb");
#endif
#ifdef EDGEQ_SEMIHOSTING
    initialise_monitor_handles();
    rc = main();
    exit(rc);
#else
    rc = main();
    (void)rc;
    for (;;) {
    }
#endif
}

/* The 16 core exception entries; no peripheral interrupt is used. */
__attribute__((section(".vectors"), used)) const struct {
    uint32_t *initial_sp;
    void (*handler[15])(void);
} edgeq_vector_table = {
    &_estack,
    {Reset_Handler, NMI_Handler, HardFault_Handler, MemManage_Handler, BusFault_Handler,
     UsageFault_Handler, 0, 0, 0, 0, SVC_Handler, DebugMon_Handler, 0, PendSV_Handler,
     SysTick_Handler},
};
