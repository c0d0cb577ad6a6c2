// SPDX-License-Identifier: GPL-2.0
/*
 * tramproof's victim module: stands for the model's module mod<N>, with the
 * functions mod<N>_a and mod<N>_b as tp_mod<N>_a_tp and tp_mod<N>_b_tp.
 * Built once per N (TP_SERIAL) as tpmod<N>.ko; call a function with
 *   echo tp_mod<N>_a_tp > /sys/kernel/debug/tramproof/call
 */
#include <linux/compiler.h>
#include <linux/kernel.h>
#include <linux/module.h>

#define TP_CAT3(a, b, c) a##b##c
#define TP_NAME(n, f) TP_CAT3(tp_mod, n, f)

static unsigned long tp_hits[2];

noinline void TP_NAME(TP_SERIAL, _a_tp)(void) { ACCESS_ONCE(tp_hits[0])++; }
noinline void TP_NAME(TP_SERIAL, _b_tp)(void) { ACCESS_ONCE(tp_hits[1])++; }

static int __init tp_mod_init(void)
{
	return 0;
}

static void __exit tp_mod_exit(void)
{
}

module_init(tp_mod_init);
module_exit(tp_mod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tramproof victim module");
