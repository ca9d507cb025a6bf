import Glibc
import WardenLab

signal(SIGPIPE, SIG_IGN)
WardenLabCommand.main()
