import Glibc
import WardenServerCLI

signal(SIGPIPE, SIG_IGN)
WardenServerCommand.main()
