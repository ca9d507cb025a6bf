import CommandSupport
import Glibc
import WardenLab

signal(SIGPIPE, SIG_IGN)
WardenLabCommand.mainReportingErrors()
