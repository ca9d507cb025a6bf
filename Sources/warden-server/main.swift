import CommandSupport
import Glibc
import WardenServerCLI

signal(SIGPIPE, SIG_IGN)
WardenServerCommand.mainReportingErrors()
