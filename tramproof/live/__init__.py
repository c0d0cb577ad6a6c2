"""The real kernel as the final judge: boot 3.17.0+seed under QEMU and replay
programs written in kernel words through the kernel's own interfaces."""
