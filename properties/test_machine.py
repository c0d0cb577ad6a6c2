"""The state machine on the kernel chosen by --kernel (default fixed) and --variant."""

from properties.machine import FtraceMachine

TestFtrace = FtraceMachine.TestCase
