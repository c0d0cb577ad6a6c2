"""The real kernel as the final judge: boot 3.17.0+seed (or 3.19.8, the patch as
merged) under QEMU and replay programs written in kernel words through the
kernel's own interfaces."""
