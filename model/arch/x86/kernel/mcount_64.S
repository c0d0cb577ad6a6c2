/*
 * The ftrace entry routines of arch/x86/kernel/mcount_64.S as they are
 * after the seed is applied to v3.17.0: x86-64 with DYNAMIC_FTRACE,
 * DYNAMIC_FTRACE_WITH_REGS and FUNCTION_GRAPH_TRACER, without
 * FRAME_POINTER frames around the callback (v3.17 has none).  MCOUNT_SAVE_FRAME
 * and MCOUNT_RESTORE_FRAME come from v3.17's asm/ftrace.h.
 *
 * One source serves both builds.  It is not fed to cpp: the loader,
 * model/arch/x86/kernel/mcount_64.py, reads this small dialect and hands
 * the rest to keystone (AT&T syntax):
 *
 *   FENTRY: <line>       kept only in the -mfentry build (CC_USING_FENTRY)
 *   MCOUNT: <line>       kept only in the build without -mfentry
 *   ENTRY <name>         pad to 16 bytes with 0x90, then the label (linkage.h ENTRY)
 *   GLOBAL <name>        the label here (linkage.h GLOBAL)
 *   CALL32 <sym>         e8 rel32 to <sym>; the loader computes rel32
 *   JMP32 <sym>          e9 rel32 to <sym>; the loader computes rel32
 *   RIPREL <sym>: <insn> <insn> written with 0x0(%rip); the loader sets its
 *                        disp32 (the last 4 bytes) so that it addresses <sym>
 *
 * Everything before the first ENTRY is a prelude given to every piece
 * keystone assembles.  Constants are written in hex because keystone's
 * AT&T mode reads bare numbers as hex.  The loader computes every branch
 * and RIP-relative field itself, because keystone's own fix-ups come out
 * off by 4, and it emits the 5-byte forms the kernel patches in place.
 */

/* struct pt_regs byte offsets (asm/calling.h / ptrace.h) */
.equ R15, 0x0
.equ R14, 0x8
.equ R13, 0x10
.equ R12, 0x18
.equ RBP, 0x20
.equ RBX, 0x28
.equ R11, 0x30
.equ R10, 0x38
.equ R9, 0x40
.equ R8, 0x48
.equ RAX, 0x50
.equ RCX, 0x58
.equ RDX, 0x60
.equ RSI, 0x68
.equ RDI, 0x70
.equ ORIG_RAX, 0x78
.equ RIP, 0x80
.equ CS, 0x88
.equ EFLAGS, 0x90
.equ RSP, 0x98
.equ SS, 0xa0
.equ KERNEL_CS, 0x10
.equ KERNEL_DS, 0x18
.equ MCOUNT_INSN_SIZE, 0x5

/*
 * Make room for a pt_regs (less what the caller already pushed), save the
 * registers an mcount call must preserve, and put the traced function's
 * return address into regs->ip.
 */
.macro MCOUNT_SAVE_FRAME skip=0x0
	subq $(SS+0x8-\skip), %rsp
	movq %rax, RAX(%rsp)
	movq %rcx, RCX(%rsp)
	movq %rdx, RDX(%rsp)
	movq %rsi, RSI(%rsp)
	movq %rdi, RDI(%rsp)
	movq %r8, R8(%rsp)
	movq %r9, R9(%rsp)
	movq SS+0x8(%rsp), %rdx
	movq %rdx, RIP(%rsp)
.endm

.macro MCOUNT_RESTORE_FRAME skip=0x0
	movq R9(%rsp), %r9
	movq R8(%rsp), %r8
	movq RDI(%rsp), %rdi
	movq RSI(%rsp), %rsi
	movq RDX(%rsp), %rdx
	movq RCX(%rsp), %rcx
	movq RAX(%rsp), %rax
	addq $(SS+0x8-\skip), %rsp
.endm

/* Arguments 1 and 2 of the callback: the call site and the parent's return. */
.macro LOAD_IP_PARENT
	movq RIP(%rsp), %rdi
	subq $MCOUNT_INSN_SIZE, %rdi
FENTRY:	movq SS+0x10(%rsp), %rsi
MCOUNT:	movq 0x8(%rbp), %rsi
.endm

/* The compiler's call target: a plain return once code is patched. */
ENTRY function_hook
	retq

ENTRY ftrace_caller
	MCOUNT_SAVE_FRAME
GLOBAL ftrace_caller_op_ptr
	/* third argument: the ftrace_ops (a trampoline loads its own) */
	RIPREL function_trace_op: movq 0x0(%rip), %rdx
	LOAD_IP_PARENT
	/* fourth argument: no pt_regs */
	movq $0x0, %rcx
GLOBAL ftrace_call
	CALL32 ftrace_stub
	MCOUNT_RESTORE_FRAME
	/* a trampoline's copy ends here and jumps back to ftrace_return */
GLOBAL ftrace_caller_end
GLOBAL ftrace_return
GLOBAL ftrace_graph_call
	JMP32 ftrace_stub
GLOBAL ftrace_stub
	retq

ENTRY ftrace_regs_caller
	/* the flags go where pt_regs->ss will be, hence skip 8 below */
	pushfq
	MCOUNT_SAVE_FRAME 0x8
GLOBAL ftrace_regs_caller_op_ptr
	RIPREL function_trace_op: movq 0x0(%rip), %rdx
	LOAD_IP_PARENT
	/* the rest of pt_regs */
	movq %r15, R15(%rsp)
	movq %r14, R14(%rsp)
	movq %r13, R13(%rsp)
	movq %r12, R12(%rsp)
	movq %r11, R11(%rsp)
	movq %r10, R10(%rsp)
	movq %rbp, RBP(%rsp)
	movq %rbx, RBX(%rsp)
	movq SS(%rsp), %rcx
	movq %rcx, EFLAGS(%rsp)
	movq $KERNEL_DS, %rcx
	movq %rcx, SS(%rsp)
	movq $KERNEL_CS, %rcx
	movq %rcx, CS(%rsp)
	/* regs->sp: the stack as it was before the call to the trampoline */
	leaq SS+0x10(%rsp), %rcx
	movq %rcx, RSP(%rsp)
	/* fourth argument: the pt_regs */
	leaq (%rsp), %rcx
GLOBAL ftrace_regs_call
	CALL32 ftrace_stub
	/* the handler may change the flags and the return address */
	movq EFLAGS(%rsp), %rax
	movq %rax, SS(%rsp)
	movq RIP(%rsp), %rax
	movq %rax, SS+0x8(%rsp)
	movq R15(%rsp), %r15
	movq R14(%rsp), %r14
	movq R13(%rsp), %r13
	movq R12(%rsp), %r12
	movq R10(%rsp), %r10
	movq RBP(%rsp), %rbp
	movq RBX(%rsp), %rbx
	MCOUNT_RESTORE_FRAME 0x8
	popfq
	/* not copied: a trampoline appends its own jmp to ftrace_return */
GLOBAL ftrace_regs_caller_end
	JMP32 ftrace_return
	/* unreachable leftover of v3.17, kept for the layout */
	popfq
	JMP32 ftrace_stub

ENTRY ftrace_graph_caller
	MCOUNT_SAVE_FRAME
	/* prepare_ftrace_return(parent slot, call site, frame pointer) */
FENTRY:	leaq SS+0x10(%rsp), %rdi
FENTRY:	movq $0x0, %rdx
MCOUNT:	leaq 0x8(%rbp), %rdi
MCOUNT:	movq (%rbp), %rdx
	movq RIP(%rsp), %rsi
	subq $MCOUNT_INSN_SIZE, %rsi
	CALL32 prepare_ftrace_return
	MCOUNT_RESTORE_FRAME
	retq

GLOBAL return_to_handler
	subq $0x18, %rsp
	/* keep the traced function's return values */
	movq %rax, (%rsp)
	movq %rdx, 0x8(%rsp)
	movq %rbp, %rdi
	CALL32 ftrace_return_to_handler
	/* rax: the original return address */
	movq %rax, %rdi
	movq 0x8(%rsp), %rdx
	movq (%rsp), %rax
	addq $0x18, %rsp
	jmp *%rdi
