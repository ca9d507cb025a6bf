import CommandSupport
import Glibc
import WardenCLI

// A peer that goes away mid-write (a status-socket client, a closed pipe) must cost an
// EPIPE error on that write, not the whole process: SIGPIPE's default action kills a
// controller with its doors.
signal(SIGPIPE, SIG_IGN)
WardenCommand.mainReportingErrors()
