// SPDX-License-Identifier: GPL-2.0
/*
 * tramproof's victims in vmlinux: sixteen traceable functions that stand for
 * the model's f0..f15, and a debugfs file that calls any function by name.
 *
 *   echo tp_f3_tp > /sys/kernel/debug/tramproof/call     calls tp_f3_tp()
 *   cat /sys/kernel/debug/tramproof/hits                  calls so far, per victim
 *
 * The names carry a prefix and a suffix so that the model's globs ("f*",
 * "*_a") can be mapped onto them without matching other kernel functions.
 * Each victim bumps its own counter, so no two have the same code and the
 * compiler cannot fold them into one.
 */
#include <linux/debugfs.h>
#include <linux/init.h>
#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#define TP_VICTIMS 16

static unsigned long tp_hits[TP_VICTIMS];

#define TP_VICTIM(n) \
	noinline void tp_f##n##_tp(void) { ACCESS_ONCE(tp_hits[n])++; }

TP_VICTIM(0) TP_VICTIM(1) TP_VICTIM(2) TP_VICTIM(3)
TP_VICTIM(4) TP_VICTIM(5) TP_VICTIM(6) TP_VICTIM(7)
TP_VICTIM(8) TP_VICTIM(9) TP_VICTIM(10) TP_VICTIM(11)
TP_VICTIM(12) TP_VICTIM(13) TP_VICTIM(14) TP_VICTIM(15)

/* The helpers are notrace: in the victims-only kernel the victims are all
 * that ftrace can trace. */
static notrace ssize_t tp_call_write(struct file *file, const char __user *ubuf,
				     size_t count, loff_t *ppos)
{
	char name[KSYM_NAME_LEN];
	unsigned long addr;
	size_t len = min(count, sizeof(name) - 1);

	if (copy_from_user(name, ubuf, len))
		return -EFAULT;
	name[len] = '\0';
	strim(name);
	/* only tramproof's own victims: their names start with tp_ */
	if (strncmp(name, "tp_", 3))
		return -EPERM;
	addr = kallsyms_lookup_name(name);
	if (!addr)
		return -ENOENT;
	((void (*)(void))addr)();
	return count;
}

static const struct file_operations tp_call_fops = {
	.write = tp_call_write,
};

static notrace int tp_hits_show(struct seq_file *m, void *v)
{
	int i;

	for (i = 0; i < TP_VICTIMS; i++)
		seq_printf(m, "tp_f%d_tp %lu\n", i, ACCESS_ONCE(tp_hits[i]));
	return 0;
}

static notrace int tp_hits_open(struct inode *inode, struct file *file)
{
	return single_open(file, tp_hits_show, NULL);
}

static const struct file_operations tp_hits_fops = {
	.open = tp_hits_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

static int __init tp_victim_init(void)
{
	struct dentry *dir = debugfs_create_dir("tramproof", NULL);

	if (!dir)
		return -ENOMEM;
	debugfs_create_file("call", 0200, dir, NULL, &tp_call_fops);
	debugfs_create_file("hits", 0444, dir, NULL, &tp_hits_fops);
	return 0;
}
late_initcall(tp_victim_init);
